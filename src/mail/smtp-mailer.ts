import { createTransport, type Transporter } from 'nodemailer';
import { type LoginMail, MailError, type Mailer } from './mailer.js';

/** Sends over SMTP with nodemailer; the URL carries host, port, credentials and TLS mode. */
export class SmtpMailer implements Mailer {
  readonly kind = 'smtp' as const;
  readonly delivers = true;
  private readonly transport: Transporter;

  constructor(url: string, timeoutMs = 10_000) {
    this.transport = createTransport({
      url,
      // A hung mail server must not hold the sign-in request open for minutes.
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
  }

  async send(mail: LoginMail): Promise<void> {
    try {
      await this.transport.sendMail({
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
      });
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new MailError('smtp', `${code ? `${code}: ` : ''}${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
