/** A time as every page shows it: `2026-12-06 14:05 UTC`; `never` for null. */
export function when(ms: number | null): string {
  if (ms === null) return 'never';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
