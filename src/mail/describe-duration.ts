const UNITS: [number, string][] = [
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1000, 'second'],
];

/** "15 minutes", "1 hour", "90 seconds": the largest unit that divides the duration evenly. */
export function describeDuration(ms: number): string {
  for (const [size, name] of UNITS) {
    if (ms >= size && ms % size === 0) {
      const n = ms / size;
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  const seconds = Math.max(1, Math.round(ms / 1000));
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

/** Whole minutes until `ms` has passed, at least 1: for "try again in N minutes". */
export function minutesUntil(ms: number): number {
  return Math.max(1, Math.ceil(ms / 60_000));
}
