import { html } from '../html.js';
import { describeDuration } from './describe-duration.js';
import type { LoginMail } from './mailer.js';

export interface LoginMailInput {
  to: string;
  from: string;
  link: string;
  productName: string;
  /** Where the person signs in: the public origin, never the request's Host header. */
  site: string;
  ttlMs: number;
  expiresAt: number;
}

function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * The sign-in mail. It says which site sent it and when the link stops working, and what to do
 * when the person did not ask for it; the plain-text part carries everything the HTML part does.
 */
export function composeLoginMail(input: LoginMailInput): LoginMail {
  const ttl = describeDuration(input.ttlMs);
  const expires = utc(input.expiresAt);
  const subject = `Your sign-in link for ${input.productName}`;
  const text = `Hello,

someone asked to sign in to ${input.productName} at ${input.site} with this email address.
Open this link to sign in:

${input.link}

The link works once and expires in ${ttl} (at ${expires}).
If you did not ask for it, ignore this email: nobody can sign in without the link.

-- 
${input.productName} · ${input.site}
`;
  const body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${subject}</title></head>
<body style="margin:0;padding:24px;background:#f4f5f7;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24">
<div style="max-width:480px;margin:0 auto;background:#ffffff;border-radius:12px;padding:28px">
<p style="margin:0 0 8px;color:#57606a;font-weight:600">${input.productName}</p>
<h1 style="font-size:22px;margin:0 0 16px">Sign in to ${input.productName}</h1>
<p>Someone asked to sign in at <strong>${input.site}</strong> with this email address. Press the button to sign in:</p>
<p style="margin:24px 0"><a href="${input.link}" style="display:inline-block;background:#1f5fbf;color:#ffffff;padding:12px 20px;border-radius:6px;font-weight:600;text-decoration:none">Sign in</a></p>
<p style="color:#57606a;font-size:14px">The link works once and expires in ${ttl} (at ${expires}). If the button does not work, copy this address into your browser:</p>
<p style="font-size:13px;word-break:break-all"><a href="${input.link}" style="color:#1f5fbf">${input.link}</a></p>
<p style="color:#57606a;font-size:14px">If you did not ask for it, ignore this email: nobody can sign in without the link.</p>
</div>
</body></html>
`;
  return { to: input.to, from: input.from, subject, text, html: body.value, link: input.link };
}
