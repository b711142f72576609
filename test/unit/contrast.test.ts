import { describe, expect, it } from 'vitest';
import { STYLESHEET } from '../../src/html.js';

/*
 * WCAG 2.x contrast of every text/background pair the pages use, read from the stylesheet the
 * pages are served with, in the light scheme and under `prefers-color-scheme: dark`. AA asks for
 * 4.5:1 for body text; button labels, links, messages and muted text are all body-sized here.
 */

function channel(value: number): number {
  const c = value / 255;
  return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

function luminance(hex: string): number {
  let digits = hex.replace('#', '');
  if (digits.length === 3) digits = [...digits].map((d) => d + d).join('');
  const [r, g, b] = [0, 2, 4].map((i) => channel(Number.parseInt(digits.slice(i, i + 2), 16)));
  return 0.2126 * (r as number) + 0.7152 * (g as number) + 0.0722 * (b as number);
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

function variables(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of block.matchAll(/--([a-z-]+):(#[0-9a-fA-F]{3,6})/g)) {
    out[match[1] as string] = match[2] as string;
  }
  return out;
}

const light = variables(/^:root\{[^}]*\}/.exec(STYLESHEET)?.[0] ?? '');
const dark = {
  ...light,
  ...variables(/@media \(prefers-color-scheme:dark\)\{:root\{[^}]*\}/.exec(STYLESHEET)?.[0] ?? ''),
};

// [text, background, where it is seen]
const PAIRS: [string, string, string][] = [
  ['fg', 'bg', 'page text'],
  ['fg', 'card', 'card text'],
  ['muted', 'card', 'muted text on a card'],
  ['muted', 'bg', 'muted text on the page'],
  ['accent', 'card', 'links and secondary buttons'],
  ['on-accent', 'accent', 'primary button label'],
  ['on-danger', 'danger', 'danger button label'],
  ['danger', 'card', 'secondary danger button'],
  ['err', 'card', 'error message'],
  ['ok', 'card', 'info message'],
  ['err', 'bg', 'error text on the page'],
];

describe('colour contrast (WCAG AA, 4.5:1)', () => {
  it('reads both schemes from the stylesheet', () => {
    for (const name of ['fg', 'bg', 'card', 'accent', 'on-accent', 'danger', 'on-danger']) {
      expect(light[name], `light --${name}`).toMatch(/^#/);
      expect(dark[name], `dark --${name}`).toMatch(/^#/);
    }
    expect(dark.accent).not.toBe(light.accent);
  });

  for (const [scheme, vars] of [
    ['light', light],
    ['dark', dark],
  ] as const) {
    for (const [text, background, where] of PAIRS) {
      it(`${scheme}: ${where} (--${text} on --${background})`, () => {
        const ratio = contrast(vars[text] as string, vars[background] as string);
        expect(ratio, `${vars[text]} on ${vars[background]}`).toBeGreaterThanOrEqual(4.5);
      });
    }
  }

  it('no rule paints a fixed white label on a scheme colour', () => {
    expect(STYLESHEET).not.toMatch(/color:#fff[;}]/);
  });

  it('the known failure is caught: white on the old dark accent is 2.85:1', () => {
    expect(contrast('#ffffff', '#4c9aff')).toBeCloseTo(2.85, 2);
  });
});
