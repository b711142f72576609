/**
 * Normalises an address: trimmed, exactly one `@`, domain lower-cased (and the local part too,
 * since users are unique case-insensitively, SPEC §4). Returns null when it is not an address.
 */
export function normalizeEmail(input: string): string | null {
  const email = input.trim();
  if (email.length < 3 || email.length > 254) return null;
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@') || at === email.length - 1) return null;
  // ASCII only: look-alike letters from other scripts are how one address impersonates another.
  if (
    !/^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/.test(
      email,
    )
  ) {
    return null;
  }
  return email.toLowerCase();
}
