/**
 * What a run's steps say about its choices, with format-broken steps kept apart: an action
 * distribution renormalised over valid answers that hold almost no probability is not a choice,
 * and a step where nothing parsed has no distribution at all. So entropy is averaged over choice
 * steps only (valid, with a distribution), and valid mass and the broken share stand beside it.
 */
import { entropy } from './entropy';

export interface ChoiceStepLike {
  valid: boolean;
  actionProbs: readonly number[] | null;
  validMass?: number;
  formatBroken?: true;
  regret: number;
}

export interface ChoiceStats {
  steps: number;
  /** Steps that are choices: valid, with a distribution. */
  choiceSteps: number;
  /** Mean action entropy over choice steps (nats); null when there is none. */
  entropy: number | null;
  /** Mean valid mass over steps that measured it (exact and thought modes); null otherwise. */
  validMass: number | null;
  /** Share of steps whose valid mass fell under the run's minimum. */
  brokenRate: number;
  /** Share of steps that were not valid choices (format-broken or unparseable). */
  invalidRate: number;
  regret: number;
}

export function choiceStats(steps: readonly ChoiceStepLike[]): ChoiceStats {
  const choices = steps.filter((s) => s.valid && s.actionProbs !== null);
  const masses = steps.flatMap((s) => (s.validMass === undefined ? [] : [s.validMass]));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    steps: steps.length,
    choiceSteps: choices.length,
    entropy: mean(choices.map((s) => entropy(s.actionProbs!))),
    validMass: mean(masses),
    brokenRate: steps.length ? steps.filter((s) => s.formatBroken).length / steps.length : 0,
    invalidRate: steps.length ? steps.filter((s) => !s.valid).length / steps.length : 0,
    regret: steps.reduce((r, s) => r + s.regret, 0),
  };
}
