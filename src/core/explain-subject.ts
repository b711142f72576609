import type { User } from '../ports/store.js';
import { type Identity, identityOf } from './identity.js';
import { initialUsername } from './username.js';

/** Who is asked about: the identity `decide` sees, and what the operator should know about it. */
export interface ExplainSubject {
  identity: Identity | null;
  description: string;
}

/** Someone signing in now with `email` and no account yet: no id, no groups. */
function newcomer(email: string): Identity {
  return identityOf({
    id: '',
    username: initialUsername(null, email),
    email,
    name: '',
    groups: [],
  });
}

/** A user as read from the store (or null when there is none with that email). */
export function subjectFromUser(email: string, user: User | null): ExplainSubject {
  if (!user) {
    return {
      identity: newcomer(email),
      description: `${email} — no such user in the store; explained as if they signed in now (a new account has no groups)`,
    };
  }
  const groups = user.groups.length > 0 ? user.groups.join(', ') : 'none';
  if (!user.active) {
    return {
      identity: null,
      description: `${user.email} — deactivated: cannot sign in, so explained as a request without a session (groups: ${groups})`,
    };
  }
  return {
    identity: identityOf(user),
    description: `${user.email} (groups: ${groups})`,
  };
}

/** The memory store lives in the server's process: the CLI cannot read its users. */
export function subjectFromEmailOnly(email: string): ExplainSubject {
  return {
    identity: newcomer(email),
    description: `${email} — the memory store cannot be read from here: explained as a signed-in user with this email and no groups`,
  };
}

export const NOBODY: ExplainSubject = {
  identity: null,
  description: 'nobody (a request without a session)',
};
