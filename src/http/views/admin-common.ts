import { html, type SafeHtml } from '../../html.js';
import type { UserRow } from '../../services/admin.js';
import type { GroupOrigin } from '../../services/admin-groups.js';

/** What every part of the panel needs to build its links and forms. */
export interface PanelContext {
  prefix: string;
  csrf: string;
  search: string;
  /** The signed-in admin's user id: some actions are not offered on their own account. */
  actorId: string;
}

/** `text` split before each dot: "mail.example.com" → ["mail", ".example", ".com"]. */
function splitBeforeDots(text: string): string[] {
  return text.split('.').map((part, i) => (i === 0 ? part : `.${part}`));
}

/** Pieces this long or shorter never break inside (not even at a hyphen). */
const KEEP_WHOLE = 24;

/**
 * An email address that wraps on a narrow screen only after "@" and before a dot (<wbr>), never
 * inside a label: each piece up to KEEP_WHOLE characters is kept whole (`.seg`, nowrap). A longer
 * piece may break at a hyphen, and outside tables anywhere as the last resort (`.email` CSS).
 * Built from escaped parts.
 */
export function addressHtml(email: string): SafeHtml {
  const at = email.lastIndexOf('@');
  const pieces = splitBeforeDots(at < 0 ? email : email.slice(0, at));
  if (at >= 0) {
    pieces[pieces.length - 1] += '@';
    pieces.push(...splitBeforeDots(email.slice(at + 1)));
  }
  return html`<span class="address email">${pieces.map(
    (piece, i) =>
      html`${i > 0 ? html`<wbr>` : ''}${piece.length <= KEEP_WHOLE ? html`<span class="seg">${piece}</span>` : piece}`,
  )}</span>`;
}

/**
 * An audit event code (`admin.deactivate`) that wraps before its dots and after its
 * underscores (`account.recovery_codes_regenerated` is wider than a phone's column), not inside
 * a word.
 */
export function eventHtml(event: string): SafeHtml {
  const pieces = splitBeforeDots(event).flatMap((part) =>
    part.split('_').map((word, i, words) => (i < words.length - 1 ? `${word}_` : word)),
  );
  return html`<code class="event">${pieces.map((piece, i) => html`${i > 0 ? html`<wbr>` : ''}${piece}`)}</code>`;
}

/**
 * A refused form field: the text typed (kept, so it is not typed again) and why. The page shows
 * it under the field with role=alert; the field points at it with aria-describedby.
 */
export interface FormError {
  field: 'username' | 'group_name' | 'rename' | 'member' | 'token_name';
  value: string;
  text: string;
}

export function listUrl(prefix: string, search: string, page = 1): string {
  const params = new URLSearchParams();
  if (search) params.set('q', search);
  if (page > 1) params.set('page', String(page));
  const query = params.toString();
  return `${prefix}/admin${query ? `?${query}` : ''}`;
}

export const userUrl = (prefix: string, id: string) =>
  `${prefix}/admin?user=${encodeURIComponent(id)}`;
export const groupUrl = (prefix: string, id: string) =>
  `${prefix}/admin?group=${encodeURIComponent(id)}`;
export const groupsUrl = (prefix: string) => `${prefix}/admin?groups`;

export function statusBadges(row: UserRow): SafeHtml {
  return html`${row.user.active ? html`<span class="badge info">active</span>` : html`<span class="badge off">deactivated</span>`}
${row.user.verified ? '' : html` <span class="badge">unverified</span>`}`;
}

export function adminCell(row: UserRow): string {
  if (row.adminByConfig) return 'yes (config)';
  return row.admin ? 'yes' : 'no';
}

const SOURCE_WORDS: Record<GroupOrigin, string> = {
  admin: 'admin panel',
  scim: 'SCIM',
  oidc: 'IdP claim',
};

/** Where a group comes from, as a badge; read-only sources say so. */
export function sourceBadge(source: GroupOrigin): SafeHtml {
  return html`<span class="badge${source === 'admin' ? ' info' : ''}">${SOURCE_WORDS[source]}</span>`;
}

/**
 * A POST form to the panel carrying the CSRF token, one action and its hidden fields. `row`:
 * the fields and the button sit in one row (`.bar`); `notes` (a field's help and error) go
 * under that row, so the button lines up with the field rather than with its help text.
 */
export function panelForm(
  ctx: PanelContext,
  action: string,
  hidden: Record<string, string>,
  inner: SafeHtml,
  layout: { row?: boolean; notes?: SafeHtml | '' } = {},
): SafeHtml {
  return html`<form method="post" action="${ctx.prefix}/admin">
<input type="hidden" name="csrf" value="${ctx.csrf}">
<input type="hidden" name="action" value="${action}">
${Object.entries(hidden).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
${layout.row ? html`<div class="bar">${inner}</div>` : inner}
${layout.notes ?? ''}
</form>`;
}

export interface TextFieldOptions {
  id: string;
  name: string;
  label: string;
  value: string;
  field: FormError['field'];
  maxlength: number;
  help?: string;
  placeholder?: string;
}

/** A labelled text field; when `error` is this field's, it shows what was typed and is marked invalid. */
export function textField(
  options: TextFieldOptions,
  error: FormError | null | undefined,
): SafeHtml {
  const mine = error?.field === options.field ? error : null;
  const described = [options.help ? `${options.id}-help` : '', mine ? `${options.id}-error` : '']
    .filter(Boolean)
    .join(' ');
  return html`<div><label for="${options.id}">${options.label}</label>
<input id="${options.id}" name="${options.name}" type="text" required maxlength="${options.maxlength}" autocomplete="off" spellcheck="false" value="${mine ? mine.value : options.value}"${options.placeholder ? html` placeholder="${options.placeholder}"` : ''}${described ? html` aria-describedby="${described}"` : ''}${mine ? html` aria-invalid="true"` : ''}></div>`;
}

/** The error (role=alert) and help under a `textField`, in the order a screen reader reads them. */
export function fieldNotes(
  options: TextFieldOptions,
  error: FormError | null | undefined,
): SafeHtml {
  const mine = error?.field === options.field ? error : null;
  return html`${mine ? html`<p id="${options.id}-error" class="message error" role="alert">${mine.text}</p>` : ''}
${options.help ? html`<p id="${options.id}-help" class="muted">${options.help}</p>` : ''}`;
}

/** A one-row form: a text field, `rest` (more controls and the button), then the field's notes. */
export function fieldForm(
  ctx: PanelContext,
  action: string,
  hidden: Record<string, string>,
  field: TextFieldOptions,
  error: FormError | null | undefined,
  rest: SafeHtml,
): SafeHtml {
  return panelForm(
    ctx,
    action,
    hidden,
    html`${textField(field, error)}
${rest}`,
    { row: true, notes: fieldNotes(field, error) },
  );
}
