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

/** Sends login mails. `send` rejects with a MailError when the provider refuses or is unreachable. */
export interface Mailer {
  readonly kind: MailerKind;
  /** False for `manual`: nothing leaves the process; an admin hands the link out. */
  readonly delivers: boolean;
  send(mail: LoginMail): Promise<void>;
  close(): Promise<void>;
}

/** A provider failure. The message is for the log; people see "could not send, try again". */
export class MailError extends Error {
  constructor(
    readonly provider: MailerKind,
    message: string,
  ) {
    super(message);
    this.name = 'MailError';
  }
}
