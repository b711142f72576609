export interface Counters {
  /** Adds one to a fixed-window counter and returns the new value; the window starts at the first hit. */
  hit(key: string, windowMs: number): Promise<number>;
}
