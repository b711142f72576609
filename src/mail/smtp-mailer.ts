import { createTransport, type Transporter } from 'nodemailer';
import { classifySmtpFailure, type DeliveryFailure, DeliveryRecord } from './mail-failure.js';
import { type LoginMail, MailError, type Mailer } from './mailer.js';

/** `auth.magic_link.smtp.tls`, with the CA file already read. */
export interface SmtpTlsSettings {
  /** PEM certificates to trust instead of the system's (a relay with a private CA). */
  ca: Buffer | null;
  rejectUnauthorized: boolean;
  /** The name the certificate must carry when the URL's host is an IP or an internal alias. */
  servername: string | null;
}

export interface SmtpOptions {
  timeoutMs?: number;
  tls?: SmtpTlsSettings;
  /** The injected clock's `now`, for when a failure happened. */
  now?: () => number;
}

/** Host and port the URL names (nodemailer's defaults: 465 for smtps://, else 587). */
function targetOf(url: string): { host: string; port: string } {
  try {
    const parsed = new URL(url);
    return {
      host: parsed.hostname,
      port: parsed.port || (parsed.protocol === 'smtps:' ? '465' : '587'),
    };
  } catch {
    return { host: 'the mail server', port: '?' };
  }
}

/** Sends over SMTP with nodemailer; the URL carries host, port, credentials and TLS mode. */
export class SmtpMailer implements Mailer {
  readonly kind = 'smtp' as const;
  readonly delivers = true;
  private readonly transport: Transporter;
  private readonly target: { host: string; port: string };
  private readonly record: DeliveryRecord;

  constructor(url: string, options: SmtpOptions = {}) {
    this.target = targetOf(url);
    this.record = new DeliveryRecord('smtp', options.now ?? Date.now);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const tls = options.tls;
    this.transport = createTransport({
      url,
      // A hung mail server must not hold the sign-in request open for minutes.
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      // Used for both smtps:// (TLS from the start) and the STARTTLS upgrade of smtp://.
      ...(tls
        ? {
            tls: {
              rejectUnauthorized: tls.rejectUnauthorized,
              ...(tls.ca ? { ca: tls.ca } : {}),
              ...(tls.servername ? { servername: tls.servername } : {}),
            },
          }
        : {}),
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
      const reason = classifySmtpFailure(error, this.target);
      this.record.failed(reason);
      throw new MailError('smtp', `${code ? `${code}: ` : ''}${(error as Error).message}`, reason);
    }
    this.record.succeeded();
  }

  lastDeliveryFailure(): DeliveryFailure | null {
    return this.record.last();
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
