import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

/** The field types config sections share: how each kind of value is spelled and checked. */

export const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a duration (use 90s, 15m, 12h, 30d)`,
    });
    return z.NEVER;
  }
  return ms;
});

/** Node's timers take at most 2^31-1 ms (about 24.8 days); a day is past any sane client bound. */
export const clientTimeout = duration.refine((ms) => ms <= 86_400_000, 'must be at most 24h');

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1024,
  k: 1024,
  mb: 1024 * 1024,
  m: 1024 * 1024,
};

/** `64kb`, `16k`, `1mb` or a byte count (binary units, as nginx reads them); 1 KiB to 16 MiB. */
export const byteSize = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const match = /^(\d{1,9})\s*(b|kb|k|mb|m)?$/i.exec(String(value).trim());
  const bytes = match
    ? Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] as number)
    : Number.NaN;
  if (!(bytes >= 1024 && bytes <= 16 * 1024 * 1024)) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a size between 1kb and 16mb (use 64kb, 16kb or a byte count)`,
    });
    return z.NEVER;
  }
  return bytes;
});

export const hostPort = z.string().refine(
  (value) => {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
    return match !== null && Number(match[2]) <= 65535;
  },
  { message: 'must be host:port, e.g. 127.0.0.1:4180' },
);

export const cidr = z.string().refine(
  (value) => {
    const [address, bits, extra] = value.split('/');
    if (extra !== undefined || !address) return false;
    const family = isIP(address);
    if (family === 0) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d{1,3}$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
  },
  { message: 'must be an IP address or CIDR range, e.g. 10.0.0.0/8' },
);

// The regex keeps userinfo and whitespace out; the URL parser catches bad ports and hosts.
export const httpUrl = z
  .string()
  .refine((value) => /^https?:\/\/[^/?#@\s]+(\/[^\s]*)?$/.test(value) && URL.canParse(value), {
    message: 'must be an absolute http(s) URL',
  });

// nodemailer reads host, port, credentials and TLS mode from this URL but only when it first
// sends, so a typo here would otherwise start a server whose sign-in links never go out.
export const smtpUrl = z.string().refine(
  (value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return (url.protocol === 'smtp:' || url.protocol === 'smtps:') && url.hostname !== '';
  },
  { message: 'must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.com:587' },
);

export const secretKey = z.string().refine((value) => /^[0-9a-fA-F]{64,}$/.test(value), {
  message:
    'must be at least 32 random bytes written as hex (64+ hex digits); make one with: openssl rand -hex 32',
});

export const emailAddress = z.string().refine((value) => /^[^@\s]+@[^@\s]+$/.test(value), {
  message: 'must be an email address with exactly one @',
});

export const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name (letters, digits, -)');

export const oneOrMore = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);
