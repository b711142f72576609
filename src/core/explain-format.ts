import type { Explanation } from './explain.js';
import { FACTOR_WORDS, ruleName } from './explain-reasons.js';
import type { ExplainSubject } from './explain-subject.js';

/** The lines `portcullis explain` prints (the admin panel shows the same facts). */
export function formatExplanation(explanation: Explanation, subject: ExplainSubject): string[] {
  const lines = [
    `URL:     ${explanation.url}`,
    `Method:  ${
      explanation.method === ''
        ? 'none given — the answer for a request whose method the proxy does not forward: the strictest any method gets'
        : explanation.method
    }`,
    `User:    ${subject.description}`,
    `Rule:    ${
      explanation.rule
        ? `access.rules[${explanation.rule.index}] ${explanation.rule.written}`
        : 'none matched: access.default_policy'
    }`,
    `Answer:  ${explanation.answer}`,
  ];
  if (explanation.require) {
    const factor = FACTOR_WORDS[explanation.require.factor];
    lines.push(
      `Needs:   ${factor} — ${explanation.require.stepUp ? `step_up: signed in, but the session must also show ${factor}` : 'the sign-in must include it'}`,
    );
  }
  explanation.why.forEach((line, i) => {
    lines.push(`${i === 0 ? 'Why:     ' : '         '}${line}`);
  });
  if (explanation.perMethod.length > 0) {
    lines.push('By method:');
    const other = explanation.perMethod.length - 1;
    explanation.perMethod.forEach((row, i) => {
      const label = i === other ? `${row.method} (any method no rule names)` : row.method;
      lines.push(`         ${label}: ${row.answer} (${ruleName(row.rule)})`);
    });
  }
  return lines;
}
