/**
 * Paths portcullis answers itself in reverse-proxy mode (SPEC §3): its prefix and SCIM.
 * Everything else belongs to the upstream. Compared as sent (case-sensitive), like the router.
 */
export function isPortcullisPath(prefix: string, path: string): boolean {
  return isUnder(path, prefix) || isUnder(path, '/scim/v2');
}

function isUnder(path: string, base: string): boolean {
  return (
    path.startsWith(base) && (path.length === base.length || path.charCodeAt(base.length) === 47)
  );
}
