import type { ActionContext, ActionOutcome } from './outcome.js';
import { back } from './outcome.js';

/** The sessions section's actions: end one other session, or all but this one. */
export async function sessionAction(
  { deps, form, live, who }: ActionContext,
  action: string,
): Promise<ActionOutcome | null> {
  const { user, session } = live;
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
  return null;
}
