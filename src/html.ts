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

/**
 * For the few pages that need a script (passkeys: `navigator.credentials` has no HTML form):
 * scripts only from our own origin, never inline, and `fetch` only back to us.
 */
export const SCRIPTED_CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

export interface PageOptions {
  title: string;
  productName: string;
  stylesheet: string;
  body: SafeHtml;
  /** URL of the configured logo (`ui.logo_file`), or null. */
  logoUrl?: string | null;
  /** A wider card, for tables (the admin panel). */
  wide?: boolean;
  /**
   * Script URLs of our own (loaded `defer`, in order); only with SCRIPTED_CONTENT_SECURITY_POLICY.
   */
  scripts?: readonly string[];
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
${(options.scripts ?? []).map(
  (src) => html`<script src="${src}" defer></script>
`,
)}</head>
<body>
<main class="card${options.wide ? ' wide' : ''}">
${options.logoUrl ? html`<img class="logo" src="${options.logoUrl}" alt="">` : ''}<p class="product">${options.productName}</p>
${options.body}
</main>
</body>
</html>
`.value;
}

export const STYLESHEET = `:root{color-scheme:light dark;--fg:#1b1f24;--bg:#f4f5f7;--card:#fff;--accent:#1f5fbf;--on-accent:#fff;--danger:#b42318;--on-danger:#fff;--muted:#57606a;--err:#b42318;--ok:#116329}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--card:#161b22;--accent:#4c9aff;--on-accent:#0d1117;--danger:#ff7b72;--on-danger:#0d1117;--muted:#9da7b3;--err:#ff7b72;--ok:#56d364}}
*{box-sizing:border-box}[hidden]{display:none!important}body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;padding:1rem}
.card{background:var(--card);width:100%;max-width:26rem;padding:2rem;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
.logo{display:block;max-height:3rem;max-width:100%;margin:0 0 .75rem}.product{margin:0 0 .5rem;color:var(--muted);font-weight:600;letter-spacing:.02em}
h1{font-size:1.4rem;margin:0 0 1rem}label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=email],input[type=text],input[type=password],input[type=search],input[type=url]{width:100%;padding:.6rem .7rem;font:inherit;border:1px solid var(--muted);border-radius:6px;background:var(--card);color:var(--fg)}
button,.button{display:inline-block;width:100%;margin-top:1rem;padding:.65rem 1rem;font:inherit;font-weight:600;color:var(--on-accent);background:var(--accent);border:0;border-radius:6px;cursor:pointer;text-align:center;text-decoration:none}
button:focus-visible,input:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.message{padding:.6rem .8rem;border-radius:6px;margin:0 0 1rem;border:1px solid currentColor}.error{color:var(--err)}.info{color:var(--ok)}
.muted{color:var(--muted);font-size:.9rem}code{word-break:break-all}
a{color:var(--accent)}.button.secondary,button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent)}
button.danger,.button.danger{background:var(--danger);color:var(--on-danger)}button.danger.secondary{background:transparent;color:var(--danger);border:1px solid var(--danger)}
.address{overflow-wrap:normal;word-break:normal}.email{overflow-wrap:anywhere}td .email{overflow-wrap:normal}.email .seg{white-space:nowrap}.nowrap{white-space:nowrap}.narrow-only{display:none}.panel td{overflow-wrap:break-word}.panel .facts{overflow-wrap:anywhere}code.event{word-break:normal;overflow-wrap:normal}
.confirm{border:2px solid var(--muted);border-radius:8px;padding:.75rem 1rem;margin:0 0 1rem}.confirm h2{margin:0 0 .5rem;font-size:1.15rem}h3{font-size:1rem;margin:1rem 0 .25rem}.plan{margin:.25rem 0 1rem;padding-left:1.25rem}.plan li{margin:.25rem 0}.bar>a{align-self:center}
.divider{display:flex;align-items:center;gap:.75rem;color:var(--muted);margin:1.25rem 0}.divider::before,.divider::after{content:"";flex:1;border-top:1px solid var(--muted);opacity:.4}
.method-passkey button{margin-top:0}.signed-in{margin:0 0 1.5rem}.signed-in p{margin:.25rem 0}.target{overflow-wrap:anywhere;font-weight:600}
.method-email button+button{margin-top:.5rem}.others{display:flex;flex-direction:column;gap:.5rem}.others button{margin-top:0}.others.beside button{background:transparent;color:var(--accent);border:1px solid var(--accent)}.chosen{margin:0 0 .5rem}.links{list-style:none;padding:0;margin:1rem 0 0;display:flex;flex-wrap:wrap;gap:.25rem 1.5rem}.switch{display:flex;flex-direction:column;gap:.5rem;margin-top:1.5rem;padding-top:1rem;border-top:1px solid rgba(127,127,127,.3)}.switch button{margin-top:0}
.card.wide{max-width:72rem;align-self:flex-start}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.bar{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-end;margin:1rem 0}.bar>div{flex:1 1 14rem}.bar label{margin-top:0}.bar button{width:auto;margin-top:0}
select{padding:.6rem .7rem;font:inherit;border:1px solid var(--muted);border-radius:6px;background:var(--card);color:var(--fg);width:100%}
select:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.table-wrap{overflow-x:auto;margin:.5rem 0 1rem}table{border-collapse:collapse;width:100%;font-size:.95rem}caption{text-align:left;color:var(--muted);padding:.25rem 0}
th,td{text-align:left;padding:.5rem .6rem;border-bottom:1px solid rgba(127,127,127,.3);vertical-align:top}th{font-weight:600;white-space:nowrap}
td input[type=checkbox]{width:1.2rem;height:1.2rem}button.small{width:auto;margin:0;padding:.3rem .7rem;font-size:.9rem;white-space:nowrap}
.current{color:var(--ok)}.badge{display:inline-block;padding:0 .45rem;border-radius:999px;font-size:.8rem;border:1px solid currentColor;white-space:nowrap}.off{color:var(--err)}
.issued{border:2px solid var(--ok);border-radius:8px;padding:.75rem 1rem;margin:0 0 1rem}.issued h2{margin:0 0 .5rem;font-size:1.1rem}.issued code{display:block;padding:.5rem;background:var(--bg);border-radius:6px;user-select:all}
.pages{display:flex;gap:1rem;align-items:center;flex-wrap:wrap}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem}details{margin-top:1rem}summary{cursor:pointer}
@media (max-width:40rem){.narrow-only{display:inline}.badge.narrow-only{display:inline-block}.card{padding:1.25rem}.wide-only{display:none}th,td{padding:.45rem .3rem}td{overflow-wrap:anywhere}}
`;
