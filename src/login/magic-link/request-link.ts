import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { normalizeEmail } from '../../core/email.js';
import { hashToken } from '../../core/one-time-token.js';
import { composeLoginMail } from '../../mail/login-mail.js';
import { MailError, type Mailer } from '../../mail/mailer.js';
import type { Store, User } from '../../ports/store.js';
import type { LoginLinks } from '../../services/login-links.js';
import type { RateLimiter, RateLimitRule } from '../../services/rate-limit.js';
import type { UserService } from '../../services/users.js';
import type { ResponsePacer } from '../response-pacer.js';
import { admit, type SignupPolicy } from '../signup-policy.js';

/** Per client IP: generous, since an office or a carrier NAT puts many people behind one address. */
export const IP_LIMIT: RateLimitRule = { name: 'magic_link:ip', limit: 30, windowMs: 15 * 60_000 };
/** Per address: enough for "I typed it wrong / it went to spam", too few to flood an inbox. */
export const ADDRESS_LIMIT: RateLimitRule = {
  name: 'magic_link:email',
  limit: 5,
  windowMs: 15 * 60_000,
};

export interface MagicLinkSettings {
  signup: SignupPolicy;
  allowedDomains: readonly string[];
  from: string;
  ttlMs: number;
  productName: string;
  /** The public origin named in the mail. */
  site: string;
  ipLimit?: RateLimitRule;
  addressLimit?: RateLimitRule;
}

export interface MagicLinkDeps {
  store: Store;
  users: UserService;
  links: LoginLinks;
  mailer: Mailer;
  limiter: RateLimiter;
  pacer: ResponsePacer;
  clock: Clock;
  logger: Logger;
}

/**
 * What the person is told. `accepted` is the one answer for a known, a new and a refused
 * address alike; only input errors, limits and a failed send differ.
 */
export type RequestOutcome =
  /** `issuedTo`: the account a link went out for (for the audit trail; never told apart to the person). */
  | { kind: 'accepted'; email: string; delivers: boolean; issuedTo?: User }
  | { kind: 'invalid_email' }
  | { kind: 'rate_limited'; retryAfterMs: number }
  /**
   * `reason`: the classified cause for the admin (audit trail, admin page), never shown to the
   * person; `account`: the existing account the link was for, if any (whose trail it goes in).
   */
  | { kind: 'send_failed'; email: string; reason: string; account?: User };

export interface LinkRequest {
  email: string;
  /** Already checked with safeRedirect. */
  rd: string;
  ip: string;
}

/** POST /auth/magic_link's work: admission, limits, token, mail. */
export class MagicLinkRequests {
  constructor(
    private readonly deps: MagicLinkDeps,
    private readonly settings: MagicLinkSettings,
  ) {}

  get delivers(): boolean {
    return this.deps.mailer.delivers;
  }

  async request(input: LinkRequest): Promise<RequestOutcome> {
    const { store, users, links, mailer, limiter, pacer, clock, logger } = this.deps;
    const email = normalizeEmail(input.email);
    if (!email) return { kind: 'invalid_email' };
    const limited = await limiter.hitAll([
      [this.settings.ipLimit ?? IP_LIMIT, input.ip],
      [this.settings.addressLimit ?? ADDRESS_LIMIT, email],
    ]);
    if (!limited.allowed) {
      logger.info(
        { event: 'magic_link_rate_limited', email, ip: input.ip },
        'sign-in link refused: rate limit',
      );
      return { kind: 'rate_limited', retryAfterMs: limited.retryAfterMs };
    }
    const startedAt = pacer.start();
    const existing = await store.getUserByEmail(email);
    const admission = admit(email, existing, this.settings.signup, this.settings.allowedDomains);
    if (admission.kind === 'refuse') {
      logger.info(
        { event: 'magic_link_refused', email, reason: admission.reason, ip: input.ip },
        'sign-in link not sent',
      );
      await pacer.pad(startedAt);
      // While mail is failing, a known address gets "could not send"; an address refused here
      // must get that too, or the difference tells who has an account (SPEC §3: same page).
      const failing = mailer.lastDeliveryFailure();
      if (failing !== null && failing.recoveredAt === null) {
        return { kind: 'send_failed', email, reason: failing.reason };
      }
      return { kind: 'accepted', email, delivers: mailer.delivers };
    }
    const url = await links.issue(email, input.rd);
    const token = new URL(url).searchParams.get('token') ?? '';
    const mail = composeLoginMail({
      to: email,
      from: this.settings.from,
      link: url,
      productName: this.settings.productName,
      site: this.settings.site,
      ttlMs: this.settings.ttlMs,
      expiresAt: clock.now() + this.settings.ttlMs,
    });
    try {
      await mailer.send(mail);
    } catch (error) {
      // A link nobody received must not stay usable: it would be out there, unsent, for ttl.
      await store.consumeToken(hashToken(token));
      const detail = error instanceof MailError ? error.message : (error as Error).message;
      logger.error(
        {
          event: 'magic_link_send_failed',
          email,
          mailer: mailer.kind,
          reason: error instanceof MailError ? error.reason : null,
          detail,
        },
        'could not send sign-in link',
      );
      const reason = error instanceof MailError ? error.reason : `${mailer.kind} send failed`;
      return { kind: 'send_failed', email, reason, ...(existing ? { account: existing } : {}) };
    }
    // The user is created only once the mail is out, so a failed send leaves nothing behind.
    const issuedTo = existing ?? (await users.findOrCreate(email));
    pacer.record(startedAt);
    logger.info(
      {
        event: 'magic_link_requested',
        email,
        mailer: mailer.kind,
        new_user: admission.kind === 'create',
        ip: input.ip,
      },
      mailer.delivers
        ? 'sign-in link sent'
        : 'sign-in link requested: the mailer is manual, hand a link out from the admin panel',
    );
    await pacer.pad(startedAt);
    return { kind: 'accepted', email, delivers: mailer.delivers, issuedTo };
  }
}
