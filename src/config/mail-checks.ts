import type { ConfigIssue } from './issues.js';
import type { RawConfig } from './schema.js';

/**
 * What can be known about sending mail without sending any (`check-config`, and every start):
 * a `from` the provider will refuse, a submission port without credentials. What only a send can
 * tell (a wrong password, an untrusted certificate) is `check-config --send-test`.
 */
export function mailIssues(
  auth: RawConfig['auth'],
  issues: ConfigIssue[],
  warnings: string[],
): void {
  const settings = auth.magic_link;
  if (!auth.enabled_auth.includes('magic_link')) return;
  if (settings.mailer !== 'smtp' && settings.mailer !== 'resend') return;
  const domain = senderDomain(settings.from);
  if (domain === null) {
    issues.push({
      path: 'auth.magic_link.from',
      message: `"${settings.from}" has no address with a domain: use e.g. "Portcullis <login@example.com>"`,
    });
  } else if (domain === 'localhost' || !domain.includes('.')) {
    warnings.push(
      `auth.magic_link.from sends as @${domain}: ${settings.mailer === 'resend' ? 'Resend refuses a domain you have not verified' : 'most relays and inboxes refuse a sender without a real domain'}; set your own address`,
    );
  }
  const smtp = settings.smtp;
  if (settings.mailer === 'smtp' && smtp) {
    let url: URL | null = null;
    try {
      url = new URL(smtp.url);
    } catch {
      // The schema has already reported it.
    }
    // nodemailer's defaults: 465 for smtps://, 587 for smtp://.
    const port = url ? url.port || (url.protocol === 'smtps:' ? '465' : '587') : '';
    if (url && url.username === '' && (port === '587' || port === '465')) {
      warnings.push(
        `auth.magic_link.smtp.url has no user:password, but port ${port} is for authenticated submission: most relays there refuse mail without a login (put the credentials in the URL, e.g. smtp://user:pass@${url.hostname}:${port}, or use port 25 for a relay that trusts this host)`,
      );
    }
  }
}

/** The domain of the address in a `From` value (`Name <a@b>` or `a@b`); null if there is none. */
function senderDomain(from: string): string | null {
  const angled = /<([^<>]*)>\s*$/.exec(from);
  const address = (angled ? angled[1] : from)?.trim() ?? '';
  const at = address.lastIndexOf('@');
  if (at <= 0) return null;
  const domain = address.slice(at + 1).toLowerCase();
  return /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(domain) ? domain : null;
}
