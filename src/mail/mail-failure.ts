import type { MailerKind } from './mailer.js';

/**
 * Why a send failed, in words an admin can act on: classified from error codes only, never the
 * provider's free text (which may carry addresses, or echo credentials). Shown on the admin
 * panel and in the audit trail; never to the person who asked for a link.
 */
export interface DeliveryFailure {
  provider: MailerKind;
  /** Clock milliseconds of the failed send. */
  at: number;
  /** e.g. "SMTP authentication failed (535)". */
  reason: string;
  /** When a send first worked again after this failure; null while it has not. */
  recoveredAt: number | null;
}

/** Where the SMTP URL points, for naming it in a reason (never its credentials). */
export interface SmtpTarget {
  host: string;
  port: string;
}

const CERT_UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'could not connect to',
  ECONNRESET: 'the connection was reset by',
  EHOSTUNREACH: 'no route to',
  ENETUNREACH: 'no route to',
  ETIMEDOUT: 'no answer in time from',
};

/** A code as it can be shown: letters, digits and `_` only, never longer than a code is. */
function safeCode(value: unknown): string | null {
  return typeof value === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(value) ? value : null;
}

function safeNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value < 1000
    ? value
    : null;
}

/** The reason for a nodemailer failure (its `code`, `originalCode`, `responseCode`, `command`). */
export function classifySmtpFailure(error: unknown, target: SmtpTarget): string {
  const e = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  const code = safeCode(e.code);
  const original = safeCode(e.originalCode) ?? code;
  const status = safeNumber(e.responseCode);
  const command = typeof e.command === 'string' ? e.command.toUpperCase() : '';
  const where = `${target.host}:${target.port}`;
  if (original && CERT_UNTRUSTED.has(original))
    return `certificate not trusted (${original}): set auth.magic_link.smtp.tls.ca_file to the relay's CA`;
  if (original === 'CERT_HAS_EXPIRED') return `the mail server's certificate has expired`;
  if (original === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the certificate does not name ${target.host} (set auth.magic_link.smtp.tls.servername)`;
  if (original?.startsWith('ERR_SSL_') || code === 'ETLS')
    return `TLS handshake with ${where} failed (${original ?? code}): smtps:// is for port 465, smtp:// (STARTTLS) for 587`;
  if (original === 'ENOTFOUND' || original === 'EAI_AGAIN' || code === 'EDNS')
    return `could not find the mail server ${target.host} (${original ?? code})`;
  if (original && NETWORK[original]) return `${NETWORK[original]} ${where} (${original})`;
  if (code === 'ETIMEDOUT' || code === 'ETIMEOUT') return `no answer in time from ${where}`;
  if (code === 'EAUTH' || status === 535 || status === 534)
    return `SMTP authentication failed${status ? ` (${status})` : ''}`;
  if (status === 530)
    return `the mail server requires authentication (${status}): put user:password in the smtp URL`;
  if (command === 'RCPT TO' && status)
    return `the mail server refused the recipient (${status}): relaying not allowed for this sender or account`;
  if (command === 'MAIL FROM' && status)
    return `the mail server refused the sender address (${status}): check auth.magic_link.from`;
  if (status)
    return `the mail server refused the mail (${status}${command ? ` at ${command}` : ''})`;
  return `SMTP send to ${where} failed${code ? ` (${code})` : ''}`;
}

/** The reason for a Resend API error (`statusCode` and its stable `name`) or a failed request. */
export function classifyResendFailure(
  failure: { status: number | null; name: unknown } | { network: unknown },
): string {
  if ('network' in failure) {
    const e = failure.network as { name?: unknown; code?: unknown; cause?: { code?: unknown } };
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError')
      return 'Resend did not answer in time';
    const code = safeCode(e?.cause?.code) ?? safeCode(e?.code);
    return `could not reach the Resend API${code ? ` (${code})` : ''}`;
  }
  const name = safeCode(failure.name);
  const status = failure.status;
  switch (status) {
    case 401:
      return 'Resend rejected the API key (401): check RESEND_API_KEY';
    case 403:
      return `Resend refused to send (403${name ? ` ${name}` : ''}): the key may not send, or the from domain is not verified`;
    case 422:
      return `Resend rejected the message (422${name ? ` ${name}` : ''}): check auth.magic_link.from`;
    case 429:
      return 'Resend rate limit or quota reached (429)';
    case null:
      // The SDK answers a request that never got a response with an error without a status.
      return `could not reach the Resend API${name ? ` (${name})` : ''}`;
    default:
      if (status >= 500) return `Resend is failing (${status})`;
      return `Resend refused the mail (${status}${name ? ` ${name}` : ''})`;
  }
}

/** Keeps the newest failure of one mailer for the admin page (in this process only). */
export class DeliveryRecord {
  private failure: DeliveryFailure | null = null;

  constructor(
    private readonly provider: MailerKind,
    private readonly now: () => number,
  ) {}

  failed(reason: string): void {
    this.failure = { provider: this.provider, at: this.now(), reason, recoveredAt: null };
  }

  succeeded(): void {
    if (this.failure && this.failure.recoveredAt === null) this.failure.recoveredAt = this.now();
  }

  last(): DeliveryFailure | null {
    return this.failure ? { ...this.failure } : null;
  }
}
