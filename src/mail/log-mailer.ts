import type { Logger } from 'pino';
import type { LoginMail, Mailer } from './mailer.js';

/**
 * Prints the link to the log instead of sending it: the quick-start mailer, so `npm start` works
 * with no mail account. Anyone who can read the log can sign in as anyone who asks for a link.
 */
export class LogMailer implements Mailer {
  readonly kind = 'log' as const;
  readonly delivers = true;

  constructor(private readonly logger: Logger) {}

  async send(mail: LoginMail): Promise<void> {
    this.logger.info(
      { event: 'magic_link_logged', to: mail.to },
      `login link for ${mail.to}: ${mail.link}`,
    );
  }

  /** Nothing is sent over a network, so nothing can fail to be. */
  lastDeliveryFailure(): null {
    return null;
  }

  async close(): Promise<void> {}
}
