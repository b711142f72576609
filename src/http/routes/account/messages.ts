import type { AccountPageView } from '../../views/account-page.js';

/** What each action says after its 303; only these keys are read from the URL, never text. */
export const MESSAGES = {
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

export type MessageKey = keyof typeof MESSAGES;

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(MESSAGES, key);
}
