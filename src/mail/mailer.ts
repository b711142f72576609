import type { DeliveryFailure } from './mail-failure.js';

/** A login mail, fully composed: every mailer sends the same words. */
export interface LoginMail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  /** The link itself, for mailers that print rather than deliver (`log`). */
  link: string;
}

export type MailerKind = 'resend' | 'smtp' | 'log' | 'manual';

export type { DeliveryFailure } from './mail-failure.js';

/** Sends login mails. `send` rejects with a MailError when the provider refuses or is unreachable. */
export interface Mailer {
  readonly kind: MailerKind;
  /** False for `manual`: nothing leaves the process; an admin hands the link out. */
  readonly delivers: boolean;
  send(mail: LoginMail): Promise<void>;
  /**
   * The newest failed send of this process (null if none since start), with a classified,
   * admin-safe reason: for the admin page. Per instance: another instance keeps its own.
   */
  lastDeliveryFailure(): DeliveryFailure | null;
  close(): Promise<void>;
}

/**
 * A provider failure. The message is for the log (it may hold the provider's own words);
 * `reason` is the short classified text an admin sees (audit trail, admin page, check-config).
 * People who asked for a link see only "could not send, try again".
 */
export class MailError extends Error {
  constructor(
    readonly provider: MailerKind,
    message: string,
    readonly reason: string = `${provider} send failed`,
  ) {
    super(message);
    this.name = 'MailError';
  }
}
