import { html, type SafeHtml } from '../../../html.js';

/** A form that posts one account action with the page's CSRF token. */
export function actionForm(
  view: { prefix: string; csrf: string },
  action: string,
  inner: SafeHtml,
  cls = '',
): SafeHtml {
  return html`<form method="post" action="${view.prefix}/account"${cls ? html` class="${cls}"` : ''}>
<input type="hidden" name="csrf" value="${view.csrf}">
<input type="hidden" name="action" value="${action}">
${inner}</form>`;
}

/** A GET form (no CSRF: it changes nothing) opening one step's page. */
export function stepButtons(
  view: { prefix: string },
  hidden: Record<string, string>,
  inner: SafeHtml,
): SafeHtml {
  return html`<form method="get" action="${view.prefix}/account">
${Object.entries(hidden).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
${inner}</form>`;
}
