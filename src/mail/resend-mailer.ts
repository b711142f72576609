import { Resend } from 'resend';
import { type LoginMail, MailError, type Mailer } from './mailer.js';

export interface ResendMailerOptions {
  apiKey: string;
  /** `RESEND_BASE_URL`, as the SDK itself reads it; null for Resend's own API. */
  baseUrl: string | null;
  timeoutMs?: number;
}

/** Sends through Resend's HTTP API with the official SDK (`RESEND_API_KEY`). */
export class ResendMailer implements Mailer {
  readonly kind = 'resend' as const;
  readonly delivers = true;
  private readonly client: Resend;
  private readonly timeoutMs: number;

  constructor(options: ResendMailerOptions) {
    // The base URL is passed explicitly rather than left to the SDK's read of process.env,
    // so it comes from the same environment snapshot as the rest of the config.
    this.client = new Resend(options.apiKey, options.baseUrl ? { baseUrl: options.baseUrl } : {});
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async send(mail: LoginMail): Promise<void> {
    let result: Awaited<ReturnType<Resend['emails']['send']>>;
    try {
      result = await this.client.emails.send(
        { from: mail.from, to: [mail.to], subject: mail.subject, text: mail.text, html: mail.html },
        { signal: AbortSignal.timeout(this.timeoutMs) },
      );
    } catch (error) {
      throw new MailError('resend', `request failed: ${(error as Error).message}`);
    }
    // The SDK reports API errors in the result instead of throwing.
    if (result.error) {
      const { name, message } = result.error;
      const status = 'statusCode' in result.error ? result.error.statusCode : null;
      throw new MailError('resend', `${name}${status ? ` (${status})` : ''}: ${message}`);
    }
  }

  async close(): Promise<void> {}
}
