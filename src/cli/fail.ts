import { ConfigError, formatIssue } from '../config/issues.js';
import { type Config, loadConfig } from '../config/load.js';

/** Exit codes: 0 ok, 1 runtime failure, 2 config or usage error. */
export const EXIT_CONFIG = 2;

/** Writes `message` to stderr and exits with `code`. */
export function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** The config, or exit 2 with every issue listed. */
export function loadOrExit(path: string | undefined, anonymousMode = false): Config {
  try {
    return loadConfig({ path, anonymousMode });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`portcullis: config error${error.issues.length > 1 ? 's' : ''}:\n`);
      for (const issue of error.issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
      for (const warning of error.warnings) process.stderr.write(`warning: ${warning}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}
