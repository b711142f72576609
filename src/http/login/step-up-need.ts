import type { StepUpNeed } from '../views/step-up-page.js';

const NEEDS: readonly StepUpNeed[] = ['passkey', 'mfa', 'recent'];
/** The `step_up` query value, when it is one we know. */
export function parseStepUp(value: string | null | undefined): StepUpNeed | null {
  return NEEDS.find((need) => need === value) ?? null;
}
