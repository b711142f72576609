import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderNames } from '../../../core/identity-headers.js';
import type { TargetResult } from '../../../core/target.js';
import { firstValue as first } from '../../request.js';
import type { CheckRequest } from '../pipeline.js';
import { fromNginxHeaders } from './nginx.js';
import {
  type CheckNames,
  type Dialect,
  familyNames,
  methodOf,
  noConstraint,
  passOnForForwardAuth,
  passOnForNginx,
  refused,
  type SendAnswer,
  sendChallenge,
  sendLoginLocation,
} from './shared.js';
import { fromForwardedHeaders, sendLoginAnswer, sendTokenRefusal } from './traefik.js';

/** Authelia's legacy /api/verify: nginx's headers (either form) mean nginx asked. */
function readsLikeNginx(headers: IncomingHttpHeaders): boolean {
  return headers['x-original-url'] !== undefined || headers['x-original-uri'] !== undefined;
}

/**
 * Authelia's legacy `/api/verify` takes nginx's family or the forwarded one. Authelia's own
 * nginx snippets send both, naming the same request, so both may be present; then they must
 * agree on host, port, path, query and method, else the answer is 400. With nginx's family the
 * method is `X-Original-Method` only: an `X-Forwarded-Method` beside it may be the client's.
 */
function fromVerifyHeaders(req: CheckRequest): TargetResult | null {
  const headers = req.headers;
  if (!readsLikeNginx(headers)) return fromForwardedHeaders(headers);
  const nginx = fromNginxHeaders(req);
  if (nginx === null || !nginx.ok) return nginx;
  const method = first(headers['x-forwarded-method']);
  if (
    method !== undefined &&
    nginx.target.method !== '' &&
    methodOf(method) !== nginx.target.method
  ) {
    return refused('X-Forwarded-Method disagrees with X-Original-Method');
  }
  if (headers['x-forwarded-host'] === undefined && headers['x-forwarded-uri'] === undefined) {
    return nginx;
  }
  const forwarded = fromForwardedHeaders(headers);
  if (forwarded === null) return refused('incomplete X-Forwarded-* beside X-Original-*');
  if (!forwarded.ok) return forwarded;
  const a = nginx.target;
  const b = forwarded.target;
  if (a.host !== b.host || a.port !== b.port || a.rawPath !== b.rawPath || a.query !== b.query) {
    return refused('X-Original-* and X-Forwarded-* name different requests');
  }
  return nginx;
}

/** An answer in the wording of whichever proxy asked: nginx's when its headers are present. */
function inAskersWording(nginxWay: SendAnswer, forwardedWay: SendAnswer): SendAnswer {
  return (req, res, target, login, challenge) =>
    readsLikeNginx(req.headers)
      ? nginxWay(req, res, target, login, challenge)
      : forwardedWay(req, res, target, login, challenge);
}

/** The app's own Authorization, passed on in the form of whichever proxy asked. */
function passOnVerify(req: CheckRequest, strip: readonly string[]): readonly string[] | null {
  return readsLikeNginx(req.headers)
    ? passOnForNginx(req, strip)
    : passOnForForwardAuth(req, strip);
}

/** Authelia's legacy `/api/verify`. (Its `/api/authz/*` paths use the nginx and traefik dialects.) */
export const autheliaVerify: Dialect = {
  name: 'verify',
  allowStatus: 200,
  readTarget: fromVerifyHeaders,
  constraint: noConstraint,
  sendLogin: inAskersWording(sendLoginLocation, sendLoginAnswer),
  sendTokenRefusal: inAskersWording(sendChallenge, sendTokenRefusal),
  passOn: passOnVerify,
};

const AUTHELIA_NAMES: HeaderNames = {
  user: ['Remote-User'],
  email: ['Remote-Email'],
  name: ['Remote-Name'],
  groups: ['Remote-Groups'],
};

/** Authelia's header family (`Remote-*`), added to the configured names. */
export function autheliaNames(configured: HeaderNames): CheckNames {
  return familyNames(configured, 'authelia', AUTHELIA_NAMES, false);
}
