import { Resend } from 'resend';
import { classifyResendFailure, type DeliveryFailure, DeliveryRecord } from './mail-failure.js';
import { type LoginMail, MailError, type Mailer } from './mailer.js';

export interface ResendMailerOptions {
  apiKey: string;
  /** `RESEND_BASE_URL`, as the SDK itself reads it; null for Resend's own API. */
  baseUrl: string | null;
  timeoutMs?: number;
  /** The injected clock's `now`, for when a failure happened. */
  now?: () => number;
}

/** Sends through Resend's HTTP API with the official SDK (`RESEND_API_KEY`). */
export class ResendMailer implements Mailer {
  readonly kind = 'resend' as const;
  readonly delivers = true;
  private readonly client: Resend;
  private readonly timeoutMs: number;
  private readonly record: DeliveryRecord;

  constructor(options: ResendMailerOptions) {
    // The base URL is passed explicitly rather than left to the SDK's read of process.env,
    // so it comes from the same environment snapshot as the rest of the config.
    this.client = new Resend(options.apiKey, options.baseUrl ? { baseUrl: options.baseUrl } : {});
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.record = new DeliveryRecord('resend', options.now ?? Date.now);
  }

  async send(mail: LoginMail): Promise<void> {
    let result: Awaited<ReturnType<Resend['emails']['send']>>;
    try {
      result = await this.client.emails.send(
        { from: mail.from, to: [mail.to], subject: mail.subject, text: mail.text, html: mail.html },
        { signal: AbortSignal.timeout(this.timeoutMs) },
      );
    } catch (error) {
      const reason = classifyResendFailure({ network: error });
      this.record.failed(reason);
      throw new MailError('resend', `request failed: ${(error as Error).message}`, reason);
    }
    // The SDK reports API errors in the result instead of throwing: normally Resend's JSON error
    // (`statusCode`, `name`, `message`), but whatever JSON the server sent when it is not that.
    if (result.error) {
      const error: unknown = result.error;
      const fields =
        typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : null;
      const status = typeof fields?.statusCode === 'number' ? fields.statusCode : null;
      const name = fields?.name;
      const reason = fields
        ? classifyResendFailure({ status, name })
        : 'Resend answered with something that is not its error format';
      this.record.failed(reason);
      throw new MailError(
        'resend',
        `${String(name ?? 'error')}${status ? ` (${status})` : ''}: ${String(fields?.message ?? error)}`,
        reason,
      );
    }
    this.record.succeeded();
  }

  lastDeliveryFailure(): DeliveryFailure | null {
    return this.record.last();
  }

  async close(): Promise<void> {}
}
