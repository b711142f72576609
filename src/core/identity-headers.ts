import type { Identity } from './identity.js';

export interface HeaderNames {
  user: readonly string[];
  email: readonly string[];
  name: readonly string[];
  groups: readonly string[];
}

/**
 * Header values must be visible ASCII (RFC 9110 §5.5): a raw newline would split the header
 * block and a non-Latin-1 character makes Node throw. Anything else is percent-encoded as UTF-8.
 */
export function headerValue(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    out += code >= 0x20 && code <= 0x7e && code !== 0x25 ? char : encodeURIComponent(char);
  }
  return out;
}

/** Flat `[name, value, name, value…]` list of identity headers, ready for `writeHead`. */
export function identityHeaders(names: HeaderNames, identity: Identity): string[] {
  const out: string[] = [];
  const add = (list: readonly string[], value: string) => {
    for (const name of list) out.push(name, value);
  };
  add(names.user, headerValue(identity.id));
  add(names.email, headerValue(identity.email));
  add(names.name, headerValue(identity.name));
  add(names.groups, headerValue(identity.groups.filter((g) => !g.includes(',')).join(',')));
  return out;
}
