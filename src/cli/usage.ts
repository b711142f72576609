import { TOKEN_USAGE } from './token.js';

/** The command line's help text. */
export const USAGE = `usage: portcullis <command> [options]
  serve [--config FILE] [--anonymous-mode]      start the server
  check-config [--config FILE] [--send-test EMAIL]
                                                validate the config and exit; --send-test also
                                                sends one test mail (exit 1 and why if it fails)
  healthcheck [--config FILE]                   GET healthz where serve listens: exit 0 or 1
  login-url EMAIL [--rd URL] [--config FILE]    print a one-time login link for EMAIL
  hash-password                                 read a password on stdin, print its hash
${TOKEN_USAGE}
  explain URL [--method M] [--user EMAIL] [--config FILE]
                                                which access rule matches URL, and the answer
  --version                                     print the version`;
