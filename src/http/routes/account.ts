import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppTokenScope } from '../../core/app-token.js';
import type { Clock } from '../../core/clock.js';
import { PortcullisError } from '../../core/errors.js';
import { page, type SafeHtml } from '../../html.js';
import { describeDuration } from '../../mail/describe-duration.js';
import type { PasskeyRecord } from '../../ports/passkeys.js';
import type { SessionStore } from '../../ports/sessions.js';
import type { AppTokenInfo, AppTokenService } from '../../services/app-tokens.js';
import type { AuditLog } from '../../services/audit.js';
import type { PasskeyService } from '../../services/passkeys.js';
import type { SecondFactorService } from '../../services/second-factor.js';
import type { LiveSession, SessionService } from '../../services/sessions.js';
import { auditSource } from '../audit-source.js';
import { readForm, refuseRepeated } from '../body.js';
import type { Handler, PageDeps } from '../handler.js';
import { redirect, sendHtml, sendJson, wantsJson } from '../respond.js';
import {
  type AccountPageView,
  type AccountStep,
  accountPageBody,
  accountStepBody,
  type ExpiryChoice,
  type PasskeyRow,
  type TokenRow,
} from '../views/account-page.js';
import { currentSession, type SessionReader } from './session-routes.js';

export interface AccountRouteDeps extends SessionReader, PageDeps {
  sessions: Pick<SessionService, 'resolve' | 'revoke'>;
  /** Lists the user's sessions (the same index the admin panel reads). */
  sessionList: Pick<SessionStore, 'listUserSessions'>;
  /** null when `tokens.enabled` is false: the page then has no tokens section. */
  appTokens: Pick<AppTokenService, 'create' | 'list' | 'revoke'> | null;
  audit: Pick<AuditLog, 'record'>;
  clock: Clock;
  /** Public base of portcullis' pages (origin + path prefix). */
  baseUrl: string;
  /** `tokens.max_lifetime`: the longest expiry the form offers. */
  maxTokenLifetimeMs: number;
  /** `auth.oidc.display_name`: how an `oidc` session is named. */
  oidcName: string;
  passkeys: Pick<PasskeyService, 'list' | 'rename' | 'remove'>;
  secondFactors: Pick<SecondFactorService, 'status' | 'disable' | 'regenerateRecoveryCodes'>;
  /** `passkey` is in `auth.enabled_auth`: the page lists passkeys and offers to add one. */
  passkeyEnabled: boolean;
  /** `basic` is in `auth.enabled_auth`: the page has the two-step section. */
  basicEnabled: boolean;
  /** `auth.basic.second_factor`. */
  secondFactor: 'off' | 'optional' | 'required';
}

export interface AccountRoutes {
  /** GET /auth/account[?done=KEY] */
  page: Handler;
  /**
   * POST /auth/account — one action, then 303 back to the page with its message (a reload does
   * not repeat it); creating a token instead answers the page directly, the token on it once,
   * so the secret never travels in a URL, a Location header or a log.
   */
  action: Handler;
}

/** What each action says after its 303; only these keys are read from the URL, never text. */
const MESSAGES = {
  session_ended: { kind: 'info', text: 'That session has ended: the device is signed out.' },
  others_ended: { kind: 'info', text: 'You are signed out everywhere except on this device.' },
  no_others: { kind: 'info', text: 'You were signed in on this device only.' },
  session_unknown: {
    kind: 'error',
    text: 'Nothing was ended: that session is not one of yours, or it has already ended.',
  },
  token_revoked: { kind: 'info', text: 'The token is revoked: apps using it are refused now.' },
  token_unknown: {
    kind: 'error',
    text: 'Nothing was revoked: that token is not one of yours, or it was already revoked.',
  },
  passkey_renamed: { kind: 'info', text: 'The passkey is renamed.' },
  passkey_removed: {
    kind: 'info',
    text: 'The passkey is removed: it no longer signs you in, on any device.',
  },
  passkey_unknown: {
    kind: 'error',
    text: 'Nothing was changed: that passkey is not one of yours, or it was already removed.',
  },
  totp_disabled: {
    kind: 'info',
    text: 'Two-step verification is off: the authenticator app and the recovery codes no longer work.',
  },
  totp_required: {
    kind: 'error',
    text: 'Two-step verification stays on: this site requires it. Add a passkey first, then turn the app off.',
  },
  totp_not_enabled: { kind: 'error', text: 'Two-step verification is not on.' },
} as const satisfies Record<string, AccountPageView['message']>;

type MessageKey = keyof typeof MESSAGES;

function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(MESSAGES, key);
}

const DAY = 86_400_000;
const STANDARD_DAYS = [7, 30, 90, 180, 365];
const DEFAULT_DAYS = 90;

/** The expiries the form offers: the usual ones up to `tokens.max_lifetime`, and that itself. */
export function expiryChoices(maxLifetimeMs: number): {
  choices: (ExpiryChoice & { ms: number })[];
  defaultValue: string;
} {
  const choices = STANDARD_DAYS.filter((days) => days * DAY <= maxLifetimeMs).map((days) => ({
    value: `${days}d`,
    label: `${days} days`,
    ms: days * DAY,
  }));
  if (!choices.some((c) => c.ms === maxLifetimeMs))
    choices.push({ value: 'max', label: describeDuration(maxLifetimeMs), ms: maxLifetimeMs });
  const preferred = choices.find((c) => c.value === `${DEFAULT_DAYS}d`);
  return { choices, defaultValue: (preferred ?? (choices.at(-1) as ExpiryChoice)).value };
}

function describeScope(scope: AppTokenScope | null): string | null {
  if (scope === null) return null;
  const parts = [scope.hosts, scope.paths, scope.methods]
    .filter((list): list is string[] => list !== undefined && list.length > 0)
    .map((list) => list.join(', '));
  return parts.length > 0 ? parts.join(' ') : null;
}

function tokenRow(token: AppTokenInfo): TokenRow {
  return {
    id: token.id,
    name: token.name,
    createdAt: token.createdAt,
    lastUsedAt: token.lastUsedAt,
    expiresAt: token.expiresAt,
    scope: describeScope(token.scope),
  };
}

/**
 * The signed-in user's live session, or null after answering: no session → the login page with
 * rd back here (401 JSON for API clients).
 */
async function requireSignedIn(
  deps: AccountRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<LiveSession | null> {
  const lookup = await currentSession(deps, req);
  if (lookup?.kind === 'valid') return lookup.live;
  const login = `${deps.prefix}/login?rd=${encodeURIComponent(`${deps.baseUrl}/account`)}`;
  if (wantsJson(req)) sendJson(req, res, 401, { error: 'unauthenticated', login_url: login });
  else redirect(res, 303, login);
  return null;
}

interface RenderState {
  message: AccountPageView['message'];
  issued: AccountPageView['issued'];
  draft: AccountPageView['draft'];
  recoveryCodes?: readonly string[] | null;
}

function passkeyRow(record: PasskeyRecord): PasskeyRow {
  return {
    id: record.id,
    name: record.name,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
    backedUp: record.backedUp,
  };
}

/** The passkeys section's rows: null when the section is not shown. */
async function passkeyRows(deps: AccountRouteDeps, userId: string): Promise<PasskeyRow[] | null> {
  const list = await deps.passkeys.list(userId);
  // A user keeps seeing (and may remove) passkeys made while the method was enabled.
  if (!deps.passkeyEnabled && list.length === 0) return null;
  return list.map(passkeyRow);
}

/** Sends a page of the account area with the CSRF cookie when the token is new. */
function sendAccountPage(
  deps: AccountRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: SafeHtml,
  setCookie: string | null | undefined,
): void {
  // PAGE_HEADERS (via sendHtml) carry `Cache-Control: no-store`: a page that shows a new
  // token or recovery codes must not be kept by the browser or any cache on the way.
  sendHtml(
    req,
    res,
    status,
    page({
      title: 'Your account',
      productName: deps.chrome.productName,
      stylesheet: deps.chrome.stylesheet,
      logoUrl: deps.chrome.logoUrl,
      body,
      wide: true,
    }),
    setCookie ? ['Set-Cookie', setCookie] : [],
  );
}

async function render(
  deps: AccountRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
  live: LiveSession,
  state: RenderState,
  status = 200,
): Promise<void> {
  const { user, session } = live;
  const csrf = deps.csrf.token(req);
  const [sessions, tokens, passkeys, twoStep] = await Promise.all([
    deps.sessionList.listUserSessions(user.id),
    deps.appTokens ? deps.appTokens.list(user.id) : Promise.resolve(null),
    passkeyRows(deps, user.id),
    deps.basicEnabled ? deps.secondFactors.status(user.id) : Promise.resolve(null),
  ]);
  const expiry = expiryChoices(deps.maxTokenLifetimeMs);
  const body = accountPageBody({
    prefix: deps.prefix,
    csrf: csrf.token,
    now: deps.clock.now(),
    user: { email: user.email, name: user.name, username: user.username },
    currentSessionId: session.id,
    sessions,
    tokens: tokens ? tokens.map(tokenRow) : null,
    issued: state.issued,
    message: state.message,
    expiryChoices: expiry.choices,
    defaultExpiry: expiry.defaultValue,
    draft: state.draft,
    oidcName: deps.oidcName,
    passkeys,
    passkeyEnrolment: deps.passkeyEnabled,
    twoStep: twoStep
      ? {
          totp: twoStep.totp,
          confirmedAt: twoStep.confirmedAt,
          recoveryCodesLeft: twoStep.recoveryCodesLeft,
          required: deps.secondFactor === 'required',
        }
      : null,
    recoveryCodes: state.recoveryCodes ?? null,
  });
  sendAccountPage(deps, req, res, status, body, csrf.setCookie);
}

/** One of the user's own passkeys by id, or null (another user's id finds nothing). */
async function ownPasskey(
  deps: AccountRouteDeps,
  userId: string,
  id: string,
): Promise<PasskeyRecord | null> {
  if (id === '') return null;
  return (await deps.passkeys.list(userId)).find((p) => p.id === id) ?? null;
}

/** Whether turning the TOTP off is refused: required, and no passkey to stand in for it. */
async function totpOffRefused(deps: AccountRouteDeps, userId: string): Promise<boolean> {
  if (deps.secondFactor !== 'required') return false;
  return (await deps.passkeys.list(userId)).length === 0;
}

/**
 * GET /auth/account?step=… : the page of one step (rename form, or "are you sure?"), or null
 * when the step does not apply (the caller then shows the account page with `done`).
 */
async function stepFor(
  deps: AccountRouteDeps,
  userId: string,
  query: URLSearchParams,
): Promise<AccountStep | MessageKey | null> {
  const step = query.get('step');
  if (step === 'rename_passkey' || step === 'remove_passkey') {
    const found = await ownPasskey(deps, userId, (query.get('passkey') ?? '').slice(0, 2048));
    if (!found) return 'passkey_unknown';
    return { kind: step, passkey: passkeyRow(found) };
  }
  if (step === 'disable_totp' && deps.basicEnabled) {
    const { totp } = await deps.secondFactors.status(userId);
    if (totp === 'none') return 'totp_not_enabled';
    return {
      kind: 'disable_totp',
      refused: totp === 'confirmed' && (await totpOffRefused(deps, userId)),
      required: deps.secondFactor === 'required',
    };
  }
  return null;
}

export function accountRoutes(deps: AccountRouteDeps): AccountRoutes {
  return {
    async page(req, res, query) {
      const live = await requireSignedIn(deps, req, res);
      if (!live) return;
      const step = await stepFor(deps, live.user.id, query);
      if (step !== null && typeof step === 'object') {
        const csrf = deps.csrf.token(req);
        const body = accountStepBody({ prefix: deps.prefix, csrf: csrf.token, step });
        sendAccountPage(deps, req, res, 200, body, csrf.setCookie);
        return;
      }
      const done = step ?? query.get('done') ?? '';
      const message = isMessageKey(done) ? MESSAGES[done] : null;
      await render(deps, req, res, live, { message, issued: null, draft: null });
    },
    action: (req, res) => accountAction(deps, req, res),
  };
}

async function accountAction(
  deps: AccountRouteDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = await readForm(req);
  refuseRepeated(form, ['action', 'session', 'token', 'name', 'expires', 'passkey', 'confirm']);
  // The session-bound token and no cross-site Fetch metadata, as the admin panel: these
  // actions sign devices out and mint credentials, so a forged one must never pass.
  deps.csrf.requireSessionToken(req, form);
  const live = await requireSignedIn(deps, req, res);
  if (!live) return;
  const { user, session } = live;
  const who = { actor: user, subject: user, source: auditSource(deps.proxies, req) };
  const back = (key: MessageKey) => redirect(res, 303, `${deps.prefix}/account?done=${key}`);
  const action = form.get('action') ?? '';

  if (action === 'end_session') {
    const id = form.get('session') ?? '';
    // Only a session found in the user's own index is ended: another user's id, or this
    // session's own (which "Sign out" ends), changes nothing.
    const mine = (await deps.sessionList.listUserSessions(user.id)).find(
      (s) => s.id === id && s.id !== session.id,
    );
    if (!mine) return back('session_unknown');
    await deps.sessions.revoke(mine.id);
    await deps.audit.record({ event: 'session.ended', reason: 'logout', sessions: 1 }, who);
    return back('session_ended');
  }

  if (action === 'end_other_sessions') {
    const others = (await deps.sessionList.listUserSessions(user.id)).filter(
      (s) => s.id !== session.id,
    );
    if (others.length === 0) return back('no_others');
    for (const other of others) await deps.sessions.revoke(other.id);
    await deps.audit.record(
      { event: 'session.ended', reason: 'logout', sessions: others.length },
      who,
    );
    return back('others_ended');
  }

  if (action === 'rename_passkey') {
    const found = await ownPasskey(deps, user.id, (form.get('passkey') ?? '').slice(0, 2048));
    if (!found || !(await deps.passkeys.rename(user.id, found.id, form.get('name') ?? '')))
      return back('passkey_unknown');
    const renamed = await ownPasskey(deps, user.id, found.id);
    await deps.audit.record(
      {
        event: 'account.passkey_renamed',
        facts: { passkey_id: found.id, from: found.name, to: renamed?.name ?? '' },
      },
      who,
    );
    return back('passkey_renamed');
  }

  if (action === 'remove_passkey') {
    const id = (form.get('passkey') ?? '').slice(0, 2048);
    // Only the confirmation page's form carries `confirm`: anything else asks first.
    if (form.get('confirm') !== 'yes')
      return redirect(
        res,
        303,
        `${deps.prefix}/account?step=remove_passkey&passkey=${encodeURIComponent(id)}`,
      );
    // `remove` takes the owner: another user's credential id removes nothing.
    const removed = id === '' ? null : await deps.passkeys.remove(user.id, id);
    if (!removed) return back('passkey_unknown');
    await deps.audit.record(
      { event: 'account.passkey_removed', facts: { passkey_id: removed.id, name: removed.name } },
      who,
    );
    return back('passkey_removed');
  }

  if (deps.basicEnabled && action === 'disable_totp') {
    if (form.get('confirm') !== 'yes')
      return redirect(res, 303, `${deps.prefix}/account?step=disable_totp`);
    const { totp } = await deps.secondFactors.status(user.id);
    if (totp === 'none') return back('totp_not_enabled');
    // A pending set-up may always be dropped; a working TOTP only when a passkey can replace it.
    if (totp === 'confirmed' && (await totpOffRefused(deps, user.id))) return back('totp_required');
    await deps.secondFactors.disable(user.id);
    await deps.audit.record({ event: 'account.totp_disabled' }, who);
    return back('totp_disabled');
  }

  if (deps.basicEnabled && action === 'regenerate_recovery_codes') {
    const result = await deps.secondFactors.regenerateRecoveryCodes(user.id);
    if (!result.ok) return back('totp_not_enabled');
    await deps.audit.record(
      {
        event: 'account.recovery_codes_regenerated',
        facts: { codes: result.recoveryCodes.length },
      },
      who,
    );
    // Answered directly, like a new token: the codes are on this page once (no-store) and in
    // no URL, Location header or log.
    await render(deps, req, res, live, {
      message: null,
      issued: null,
      draft: null,
      recoveryCodes: result.recoveryCodes,
    });
    return;
  }

  const tokens = deps.appTokens;
  if (tokens && action === 'revoke_token') {
    const revoked = await tokens.revoke(form.get('token') ?? '', { userId: user.id, admin: false });
    return back(revoked ? 'token_revoked' : 'token_unknown');
  }

  if (tokens && action === 'create_token') {
    const name = (form.get('name') ?? '').slice(0, 200);
    const expires = form.get('expires') ?? '';
    const choice = expiryChoices(deps.maxTokenLifetimeMs).choices.find((c) => c.value === expires);
    if (!choice) {
      await render(
        deps,
        req,
        res,
        live,
        {
          message: { kind: 'error', text: 'Choose when the token expires from the list.' },
          issued: null,
          draft: { name, expiry: '' },
        },
        400,
      );
      return;
    }
    const created = await tokens.create(user.id, name, { expiresInMs: choice.ms });
    if (!created.ok) {
      await render(
        deps,
        req,
        res,
        live,
        {
          message: { kind: 'error', text: `No token was created: ${created.message}.` },
          issued: null,
          draft: { name, expiry: choice.value },
        },
        400,
      );
      return;
    }
    await render(deps, req, res, live, {
      message: null,
      issued: { name: created.record.name, token: created.token },
      draft: null,
    });
    return;
  }

  throw new PortcullisError('bad_request', `unknown account action ${action.slice(0, 40)}`);
}
