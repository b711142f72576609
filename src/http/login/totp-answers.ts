import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConfirmTotpResult, SecondFactorService } from '../../services/second-factor.js';
import { renderPage } from '../pages.js';
import type { PageChrome } from '../problem.js';
import type { PageMessage } from '../views/login-page.js';
import {
  type RecoveryCodesView,
  recoveryCodesBody,
  type TotpEnrolView,
  totpEnrolBody,
} from '../views/totp-enrol.js';

/*
 * What the TOTP pages (sign-in, set-up, step-up) say back to a typed code, in one place so the
 * three cannot drift apart.
 */

/** What a person types into a code field: spaces (as apps group the digits) are dropped. */
export function typedCode(raw: string | null | undefined): string {
  return (raw ?? '').slice(0, 64).replace(/\s+/g, '');
}

/** A recovery code as typed: bounded, outer spaces dropped (the service normalises the rest). */
export function typedRecoveryCode(raw: string | null | undefined): string {
  return (raw ?? '').slice(0, 64).trim();
}

export const MESSAGES = {
  bad_code: 'That code is not right. Check the time on your phone and type the code shown now.',
  replayed: 'That code was already used. Wait for the next one from your app.',
  bad_recovery: 'That recovery code is not right, or it was already used.',
} as const;

export function tooMany(retryAfterMs: number): { message: PageMessage; headers: string[] } {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const minutes = Math.ceil(seconds / 60);
  return {
    message: {
      kind: 'error',
      text: `Too many attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
    },
    headers: ['Retry-After', String(seconds)],
  };
}

/** How the set-up page is shown again after its first code was refused. */
export interface EnrolRetry {
  status: number;
  /** A new secret (and QR code): the pending one was restarted elsewhere or never begun. */
  fresh: boolean;
  message: PageMessage;
  headers: string[];
}

export function enrolRetry(refused: Exclude<ConfirmTotpResult, { ok: true }>): EnrolRetry {
  if (refused.reason === 'rate_limited') {
    const limited = tooMany(refused.retryAfterMs);
    return { status: 429, fresh: false, message: limited.message, headers: limited.headers };
  }
  if (refused.reason === 'not_pending') {
    // Restarted in another tab (a new secret) or never begun: show a fresh QR code.
    return {
      status: 409,
      fresh: true,
      message: {
        kind: 'error',
        text: 'The set-up was restarted in another window. Scan this new QR code instead.',
      },
      headers: [],
    };
  }
  return {
    status: 401,
    fresh: false,
    message: { kind: 'error', text: MESSAGES.bad_code },
    headers: [],
  };
}

/** A new pending secret for `user`; null when TOTP was confirmed meanwhile (another tab). */
export async function beginEnrolment(
  secondFactor: Pick<SecondFactorService, 'beginTotpEnrolment'>,
  user: { id: string; email: string },
): Promise<{ qrSvg: string; secret: string } | null> {
  const begun = await secondFactor.beginTotpEnrolment({ id: user.id, email: user.email });
  return begun.ok ? { qrSvg: begun.qrSvg, secret: begun.secret } : null;
}

export function renderEnrolPage(
  chrome: PageChrome,
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  view: TotpEnrolView,
  headers?: string[],
): void {
  renderPage(
    chrome,
    req,
    res,
    status,
    'Set up two-step verification',
    totpEnrolBody(view),
    headers,
  );
}

/** The recovery codes, shown once after a confirmed set-up. */
export function renderRecoveryCodes(
  chrome: PageChrome,
  req: IncomingMessage,
  res: ServerResponse,
  view: RecoveryCodesView,
  headers?: string[],
): void {
  renderPage(chrome, req, res, 200, 'Save your recovery codes', recoveryCodesBody(view), headers);
}
