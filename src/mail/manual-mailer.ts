import type { LoginMail, Mailer } from './mailer.js';

/**
 * Sends nothing, as Khoj does without Resend: asking for a link creates the (unverified) user
 * and an admin hands a link out from the admin panel or `portcullis login-url`.
 */
export class ManualMailer implements Mailer {
  readonly kind = 'manual' as const;
  readonly delivers = false;

  async send(_mail: LoginMail): Promise<void> {}

  /** Nothing is sent over a network, so nothing can fail to be. */
  lastDeliveryFailure(): null {
    return null;
  }

  async close(): Promise<void> {}
}
