/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A fragment of HTML that is already safe. Only `html` and `page` make these. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Part = string | number | SafeHtml | null | undefined | false | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof SafeHtml) return part.value;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

/** Tagged template: every interpolated value is escaped unless it is SafeHtml. */
export function html(strings: TemplateStringsArray, ...values: Part[]): SafeHtml {
  let out = strings[0] as string;
  for (let i = 0; i < values.length; i++)
    out += render(values[i] as Part) + (strings[i + 1] as string);
  return new SafeHtml(out);
}

/**
 * No scripts at all; styles only from our own stylesheet. `form-action` is left out on purpose:
 * Chromium applies it to the redirect after a POST, which would block the 303 back to the app.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

export interface PageOptions {
  title: string;
  productName: string;
  stylesheet: string;
  body: SafeHtml;
}

export function page(options: PageOptions): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · ${options.productName}</title>
<link rel="stylesheet" href="${options.stylesheet}">
</head>
<body>
<main class="card">
<p class="product">${options.productName}</p>
${options.body}
</main>
</body>
</html>
`.value;
}

export const STYLESHEET = `:root{color-scheme:light dark;--fg:#1b1f24;--bg:#f4f5f7;--card:#fff;--accent:#1f5fbf;--muted:#57606a;--err:#b42318;--ok:#116329}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--card:#161b22;--accent:#4c9aff;--muted:#9da7b3;--err:#ff7b72;--ok:#56d364}}
*{box-sizing:border-box}body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;padding:1rem}
.card{background:var(--card);width:100%;max-width:26rem;padding:2rem;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
.product{margin:0 0 .5rem;color:var(--muted);font-weight:600;letter-spacing:.02em}
h1{font-size:1.4rem;margin:0 0 1rem}label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=email],input[type=text],input[type=password],input[type=search]{width:100%;padding:.6rem .7rem;font:inherit;border:1px solid var(--muted);border-radius:6px;background:var(--card);color:var(--fg)}
button,.button{display:inline-block;width:100%;margin-top:1rem;padding:.65rem 1rem;font:inherit;font-weight:600;color:#fff;background:var(--accent);border:0;border-radius:6px;cursor:pointer;text-align:center;text-decoration:none}
button:focus-visible,input:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.message{padding:.6rem .8rem;border-radius:6px;margin:0 0 1rem;border:1px solid currentColor}.error{color:var(--err)}.info{color:var(--ok)}
.muted{color:var(--muted);font-size:.9rem}code{word-break:break-all}
`;
