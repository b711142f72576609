import type { Logger } from 'pino';
import type { ExtractedAppToken } from '../../core/app-token-extract.js';
import { type AccessPolicy, type Decision, decide } from '../../core/decide.js';
import type { Identity } from '../../core/identity.js';
import type { Target } from '../../core/target.js';
import type { AppTokenService, AppTokenVerdict } from '../../services/app-tokens.js';
import { lookupFailure } from './lookup-failure.js';
import { type Answer, type CheckCaller, type CheckRequest, prepareHeaders } from './verdict.js';

/** App tokens as the check reads them (`tokens.enabled`). */
export interface TokenCheck {
  service: Pick<AppTokenService, 'peek' | 'verify' | 'holder'>;
  /** `tokens.header`, lower-cased; null when none is configured. */
  header: string | null;
}

export interface TokenStepDeps {
  policy: AccessPolicy;
  anonymousUser: Identity;
  logger: Logger;
  tokens: TokenCheck;
}

/**
 * The pipeline's credential step for a request that carries an app token: the token decides
 * alone (it wins over a cookie, and an unusable one is a 401, never a fall-back to the cookie).
 */
export class TokenStep {
  private readonly policy: AccessPolicy;
  private readonly anonymousUser: Identity;
  private readonly logger: Logger;
  readonly tokens: TokenCheck;

  constructor(deps: TokenStepDeps) {
    this.policy = deps.policy;
    this.anonymousUser = deps.anonymousUser;
    this.logger = deps.logger;
    this.tokens = deps.tokens;
  }

  run<O, X, R extends CheckRequest>(
    req: R,
    out: O,
    target: Target,
    extracted: ExtractedAppToken,
    caller: CheckCaller<O, X, R>,
    extra: X,
  ): void {
    if (extracted.kind === 'invalid') {
      this.logger.debug({ reason: extracted.reason }, 'unusable app token');
      this.refuse(req, out, target, extracted, `app token: ${extracted.reason}`, caller, extra);
      return;
    }
    const service = this.tokens.service;
    const cached = service.peek(extracted.token, target);
    if (cached !== undefined) {
      this.conclude(req, out, target, extracted, cached, caller, extra);
      return;
    }
    service.verify(extracted.token, target).then(
      (verdict) => this.conclude(req, out, target, extracted, verdict, caller, extra),
      (error: unknown) => {
        const failure = lookupFailure(this.logger, error, caller.during);
        const answer: Answer = { kind: 'error', error: failure };
        const verdict = { target, answer, prepared: null, lookup: null, credential: extracted };
        caller.answer(req, out, verdict, extra);
      },
    );
  }

  private conclude<O, X, R extends CheckRequest>(
    req: R,
    out: O,
    target: Target,
    extracted: ExtractedAppToken & { kind: 'token' },
    verdict: AppTokenVerdict,
    caller: CheckCaller<O, X, R>,
    extra: X,
  ): void {
    if (!verdict.ok) {
      // Outside its scope the user is known and the token good, only not for this URL: 403.
      const holder =
        verdict.reason === 'out_of_scope' ? this.tokens.service.holder(extracted.token) : null;
      if (holder) {
        const answer: Decision = {
          kind: 'deny',
          identity: holder,
          rule: -1,
          reason: 'app token out of its scope',
        };
        caller.answer(
          req,
          out,
          { target, answer, prepared: null, lookup: null, credential: extracted },
          extra,
        );
        return;
      }
      this.refuse(req, out, target, extracted, `app token ${verdict.reason}`, caller, extra);
      return;
    }
    const decision = decide(
      this.policy,
      target,
      verdict.identity,
      this.anonymousUser,
      caller.constraint(req),
    );
    let prepared: readonly string[] | null = null;
    if (decision.kind === 'allow' && decision.identity !== null) {
      prepared = prepareHeaders(caller.family, decision.identity, verdict.identity, verdict.memo);
    }
    const answer = { target, answer: decision, prepared, lookup: null, credential: extracted };
    caller.answer(req, out, answer, extra);
  }

  private refuse<O, X, R extends CheckRequest>(
    req: R,
    out: O,
    target: Target,
    credential: ExtractedAppToken,
    reason: string,
    caller: CheckCaller<O, X, R>,
    extra: X,
  ): void {
    const answer: Decision = { kind: 'login', rule: -1, reason };
    caller.answer(req, out, { target, answer, prepared: null, lookup: null, credential }, extra);
  }

  /**
   * Re-decides an open WebSocket opened with an app token: false once the token is refused or
   * the rules no longer allow its user here; true while the store is unreachable (the socket
   * stays, as for sessions).
   */
  async recheck(target: Target, token: string): Promise<boolean> {
    let verdict: AppTokenVerdict;
    try {
      verdict = await this.tokens.service.verify(token, target);
    } catch {
      return true;
    }
    if (!verdict.ok) return false;
    return decide(this.policy, target, verdict.identity, this.anonymousUser).kind === 'allow';
  }
}
