import { describeStore } from '../config/schema.js';
import { normalizeEmail } from '../core/email.js';
import { createLogger } from '../logger.js';
import { EXIT_CONFIG, fail, loadOrExit } from './fail.js';

/** `portcullis check-config`: validate, summarise, and with `--send-test` send one test mail. */
export async function checkConfig(
  configPath: string | undefined,
  sendTest: string | undefined,
): Promise<void> {
  const config = loadOrExit(configPath);
  for (const warning of config.warnings) process.stderr.write(`warning: ${warning}\n`);
  const raw = config.raw;
  process.stdout.write(
    `config OK: ${config.path} — listen ${raw.server.listen}, public_url ${raw.server.public_url}, store ${describeStore(raw.store)}, login ${raw.auth.enabled_auth.join(',')}, ${raw.access.rules.length} access rule(s)${raw.anonymous_mode ? ', anonymous mode' : ''}\n`,
  );
  if (sendTest === undefined) return;
  const to = normalizeEmail(sendTest);
  if (!to)
    fail(`portcullis check-config: --send-test "${sendTest}" is not an email address`, EXIT_CONFIG);
  const { sendTestMail } = await import('../mail/send-test.js');
  const outcome = await sendTestMail(config, to, createLogger('silent'));
  switch (outcome.kind) {
    case 'sent':
      process.stdout.write(`test mail sent to ${to} via ${outcome.via}\n`);
      return;
    case 'nothing_to_test':
      process.stdout.write(
        `auth.magic_link.mailer is ${outcome.mailer}: it sends no mail, so there is nothing to test\n`,
      );
      return;
    case 'failed':
      fail(`test mail to ${to} not sent: ${outcome.reason}`, 1);
  }
}
