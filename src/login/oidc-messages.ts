import type { AccountRefusal } from './oidc-account.js';
import type { FlowFailure } from './oidc-flow.js';

/** What the person is told when a sign-in stops, and with which status. */
export interface Refusal {
  status: number;
  text: string;
}

/** A flow failure as the person sees it; `name` is the method's display name. */
export function failureMessage(name: string, failure: FlowFailure): Refusal {
  switch (failure.kind) {
    case 'provider_error':
      if (failure.code === 'access_denied')
        return {
          status: 403,
          text: `Sign-in with ${name} was cancelled or refused. Try again, or use another way below.`,
        };
      return {
        status: 502,
        text: `${name} could not sign you in (it answered “${/^[a-z_]{1,64}$/.test(failure.code) ? failure.code : 'error'}”). Try again; if it keeps happening, tell your administrator.`,
      };
    case 'unreachable':
      return {
        status: 502,
        text: `We could not reach ${name} just now. Try again in a moment; if it keeps happening, tell your administrator.`,
      };
    case 'rejected':
      return {
        status: 400,
        text: `The answer from ${name} did not pass our checks, so you are not signed in. Start again below.`,
      };
    case 'expired':
      return {
        status: 400,
        text: 'This sign-in attempt expired, was already used, or was started in another browser. Start again below.',
      };
    case 'email_unverified':
      return {
        status: 403,
        text: `${name} has not verified your email address, so it cannot sign you in here. Verify it at ${name}, or use another way below.`,
      };
    case 'no_email':
      return {
        status: 403,
        text: `${name} did not give us a usable email address, so we cannot tell who you are. Ask your administrator to release the email claim.`,
      };
  }
}

/** An account refusal as the person sees it; `email` is the verified address from the claims. */
export function refusalMessage(name: string, reason: AccountRefusal, email: string): Refusal {
  switch (reason) {
    case 'deactivated':
      return { status: 403, text: 'This account is deactivated. Ask an administrator.' };
    case 'not_invited':
      return {
        status: 403,
        text: `There is no account for ${email} here, and new accounts need an invitation. Ask an administrator.`,
      };
    case 'domain_not_allowed':
      return {
        status: 403,
        text: `Addresses at ${email.slice(email.indexOf('@') + 1)} cannot sign up here. Ask an administrator for an invitation.`,
      };
    case 'email_taken':
      return {
        status: 409,
        text: `${name} now gives your address as ${email}, but another account here has it. Ask an administrator to sort the two accounts out.`,
      };
    case 'identity_conflict':
      return {
        status: 409,
        text: `The account for ${email} here belongs to a different ${name} account, so this one cannot sign in to it. Sign in with the ${name} account you used before, or ask an administrator.`,
      };
    case 'link_not_trusted':
      return {
        status: 409,
        text: `An account for ${email} exists here already, and ${name} is not set up to sign in to existing accounts. Sign in the way you did before, or ask an administrator.`,
      };
  }
}

/** The 429 text when sign-in starts from one address are over the limit. */
export function startLimitedText(seconds: number): string {
  return `Too many sign-in attempts from your network. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`;
}

/** The part of a flow failure worth logging: its detail, the provider's code, or nothing. */
export function failureDetail(failure: FlowFailure): string | null {
  return 'detail' in failure ? failure.detail : 'code' in failure ? failure.code : null;
}
