function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Host glob: `*` stands for one or more DNS-label characters and dots, so `*.example.com`
 * covers every subdomain of example.com but not example.com itself or `evilexample.com`.
 */
export function compileHostGlob(glob: string): RegExp {
  // Targets are matched without their trailing dot, so a rule written `app.example.com.` must be too.
  const source = glob
    .toLowerCase()
    .replace(/\.$/, '')
    .split('*')
    .map(escapeRegex)
    .join('[a-z0-9_.-]+');
  return new RegExp(`^${source}$`);
}

/**
 * Path glob: `*` is anything inside one segment, `**` anything across segments. A trailing
 * `/**` also covers the bare prefix (`/admin/**` protects `/admin` too).
 */
export function compilePathGlob(glob: string): RegExp {
  let source = '';
  let rest = glob;
  let optionalTail = false;
  if (rest.endsWith('/**')) {
    rest = rest.slice(0, -3);
    optionalTail = true;
  }
  const parts = rest.split('**');
  source = parts.map((part) => part.split('*').map(escapeRegex).join('[^/]*')).join('.*');
  if (optionalTail) source += '(?:/.*)?';
  return new RegExp(`^${source}$`);
}

/** Email glob, case-insensitive: `*@example.com`, `alice@example.com`. */
export function compileEmailGlob(glob: string): RegExp {
  return new RegExp(`^${glob.toLowerCase().split('*').map(escapeRegex).join('[^@]*')}$`);
}
