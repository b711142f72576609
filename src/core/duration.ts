const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `90s`, `15m`, `12h`, `30d` (and `250ms`) into milliseconds; returns null when malformed. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  const unit = UNIT_MS[match[2] as string] as number;
  const value = Number(match[1]) * unit;
  return value > 0 ? value : null;
}
