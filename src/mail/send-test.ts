import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { html } from '../html.js';
import { createMailer } from './create-mailer.js';
import { MailError } from './mailer.js';

export type SendTestOutcome =
  | { kind: 'sent'; via: string }
  /** `log` and `manual` send nothing over a network: there is nothing to test. */
  | { kind: 'nothing_to_test'; mailer: string }
  | { kind: 'failed'; reason: string };

/**
 * `portcullis check-config --send-test EMAIL`: sends one plain test mail (no link in it) through
 * the configured mailer, so a wrong password, an untrusted certificate or a refused sender shows
 * before the first person asks for a link. The reason is the one the admin page shows.
 */
export async function sendTestMail(
  config: Config,
  to: string,
  logger: Logger,
): Promise<SendTestOutcome> {
  const settings = config.raw.auth.magic_link;
  if (settings.mailer !== 'smtp' && settings.mailer !== 'resend')
    return { kind: 'nothing_to_test', mailer: settings.mailer };
  const mailer = await createMailer(config, logger);
  const product = config.raw.ui.product_name;
  const text = `This is a test mail from ${product} (portcullis check-config --send-test).\nSign-in links will be sent the same way. Nothing to do.\n`;
  try {
    await mailer.send({
      to,
      from: settings.from,
      subject: `${product}: test mail`,
      text,
      html: html`<p>This is a test mail from ${product} (<code>portcullis check-config --send-test</code>).</p><p>Sign-in links will be sent the same way. Nothing to do.</p>`
        .value,
      link: '',
    });
    return {
      kind: 'sent',
      via: settings.mailer === 'smtp' ? viaSmtp(settings.smtp?.url) : 'resend',
    };
  } catch (error) {
    return {
      kind: 'failed',
      reason: error instanceof MailError ? error.reason : `${settings.mailer} send failed`,
    };
  } finally {
    await mailer.close();
  }
}

function viaSmtp(url: string | undefined): string {
  try {
    const parsed = new URL(url ?? '');
    return `smtp (${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''})`;
  } catch {
    return 'smtp';
  }
}
