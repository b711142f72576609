/**
 * One number per address (lower-cased) that orders its one-time links: a link whose stamp is
 * below the address's floor is void. Issuing a link takes the next stamp (voiding older links),
 * deactivating or deleting a user moves the floor past every link issued so far. Stamps are
 * clock milliseconds, so a link signed elsewhere (the CLI beside a memory store) can carry its
 * own issue time and still be ordered against the server's.
 */
export interface LinkFloors {
  /**
   * Atomically moves the floor to max(floor + 1, atLeast) and returns it: a stamp no earlier
   * link has, even within one millisecond. `keepMs` null keeps the floor until the next change.
   */
  nextLinkStamp(email: string, atLeast: number, keepMs: number | null): Promise<number>;
  /** Moves the floor up to `stamp`, never down. */
  raiseLinkFloor(email: string, stamp: number, keepMs: number): Promise<void>;
  /** 0 when the address has none. */
  getLinkFloor(email: string): Promise<number>;
}
