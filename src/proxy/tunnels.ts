import type { Logger } from 'pino';
import type { Lookup } from '../services/sessions.js';
import type { Tunnel } from './engine.js';

/** An open WebSocket tunnel and whose session opened it. */
export interface TunnelEntry {
  tunnel: Tunnel;
  /** The session cookie value; null for anonymous or bypassed sockets (never rechecked). */
  cookie: string | null;
  sessionId: string | null;
  /** Whether this socket may stay open, given a fresh lookup of its cookie (same rules). */
  stillAllowed: (lookup: Lookup) => boolean;
  /** The app token the socket was opened with (re-verified on its own, faster sweep), or null. */
  token: string | null;
  /** Whether a socket opened with a token may stay open (token still good, rules still allow). */
  tokenStillAllowed(): Promise<boolean>;
}

/**
 * Open WebSocket tunnels, so a revoked session loses its sockets too. A revocation announced by
 * the store (any instance) closes that session's sockets at once; a sweep every `recheckMs`
 * re-decides every socket, which covers expiry, idle timeouts, deactivated users, changed
 * groups and revocations missed while the link to the store was down.
 */
export class TunnelRegistry {
  private readonly entries = new Set<TunnelEntry>();
  private readonly bySession = new Map<string, Set<TunnelEntry>>();
  private readonly byToken = new Set<TunnelEntry>();
  private readonly timer: NodeJS.Timeout;
  private readonly tokenTimer: NodeJS.Timeout;
  private sweeping = false;
  private sweepingTokens = false;
  private emptyWaiters: (() => void)[] = [];

  constructor(
    private readonly resolve: (cookie: string) => Promise<Lookup>,
    private readonly logger: Logger,
    recheckMs: number,
    tokenRecheckMs = recheckMs,
  ) {
    this.timer = setInterval(() => {
      this.sweep().catch(() => {});
    }, recheckMs);
    this.timer.unref();
    this.tokenTimer = setInterval(() => {
      this.sweepTokens().catch(() => {});
    }, tokenRecheckMs);
    this.tokenTimer.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  add(entry: TunnelEntry): void {
    this.entries.add(entry);
    if (entry.token !== null) this.byToken.add(entry);
    const id = entry.sessionId;
    if (id !== null) {
      let set = this.bySession.get(id);
      if (!set) {
        set = new Set();
        this.bySession.set(id, set);
      }
      set.add(entry);
    }
    entry.tunnel.onClose(() => this.remove(entry));
  }

  private remove(entry: TunnelEntry): void {
    this.entries.delete(entry);
    this.byToken.delete(entry);
    if (this.entries.size === 0 && this.emptyWaiters.length > 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const waiter of waiters) waiter();
    }
    const id = entry.sessionId;
    if (id === null) return;
    const set = this.bySession.get(id);
    if (!set) return;
    set.delete(entry);
    if (set.size === 0) this.bySession.delete(id);
  }

  /** Closes every socket of a session that was just revoked. */
  revoke(sessionId: string): void {
    const set = this.bySession.get(sessionId);
    if (!set) return;
    this.logger.info({ sockets: set.size }, 'session revoked: closing its WebSockets');
    for (const entry of [...set]) entry.tunnel.close();
  }

  /** Re-decides every session-bound socket; one check per distinct cookie. */
  async sweep(): Promise<void> {
    if (this.sweeping || this.entries.size === 0) return;
    this.sweeping = true;
    try {
      const byCookie = new Map<string, TunnelEntry[]>();
      for (const entry of this.entries) {
        if (entry.cookie === null) continue;
        const list = byCookie.get(entry.cookie);
        if (list) list.push(entry);
        else byCookie.set(entry.cookie, [entry]);
      }
      const checks: Promise<void>[] = [];
      for (const [cookie, list] of byCookie) {
        checks.push(
          this.resolve(cookie).then(
            (lookup) => {
              for (const entry of list) {
                if (entry.stillAllowed(lookup)) continue;
                this.logger.info(
                  { reason: lookup.kind === 'invalid' ? lookup.reason : 'rules' },
                  'closing a WebSocket whose session no longer allows it',
                );
                entry.tunnel.close();
              }
            },
            // The store is unreachable: keep the sockets; revocations arrive when it is back.
            () => {},
          ),
        );
      }
      await Promise.all(checks);
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * Re-decides every socket opened with an app token. There is no revocation feed for tokens;
   * each check reads through the token cache (fresh for at most 1 s), so this sweep runs often.
   */
  async sweepTokens(): Promise<void> {
    if (this.sweepingTokens || this.byToken.size === 0) return;
    this.sweepingTokens = true;
    try {
      const checks: Promise<void>[] = [];
      for (const entry of this.byToken) {
        checks.push(
          entry.tokenStillAllowed().then((allowed) => {
            if (allowed) return;
            this.logger.info('closing a WebSocket whose app token no longer allows it');
            entry.tunnel.close();
          }),
        );
      }
      await Promise.all(checks);
    } finally {
      this.sweepingTokens = false;
    }
  }

  /** Shutdown: every socket gets a 1001 close frame; resolves once all of them are closed. */
  goAwayAll(): Promise<void> {
    for (const entry of this.entries) entry.tunnel.goAway();
    if (this.entries.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  closeAll(): void {
    clearInterval(this.timer);
    clearInterval(this.tokenTimer);
    for (const entry of [...this.entries]) entry.tunnel.close();
  }
}
