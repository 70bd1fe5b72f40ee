/** Pure data shaping for the Agent panel's chart: uPlot's column arrays from step records. */
import type { StepRecord } from '../trace/schema.js';

export interface EntropyChartData {
  /**
   * [step, entropy (nats), ln K (the maximum), beta in force, valid mass] as uPlot columns. A step
   * that is no choice (format-broken, or nothing parsed) has no entropy point: a gap, never a
   * high value; valid mass is null where the mode does not measure it.
   */
  columns: [number[], (number | null)[], number[], number[], (number | null)[]];
}

export function entropyChartData(steps: readonly StepRecord[], numActions: number): EntropyChartData {
  const lnK = Math.log(Math.max(1, numActions));
  return {
    columns: [
      steps.map((s) => s.step),
      steps.map((s) => (s.valid && !s.formatBroken ? s.entropy : null)),
      steps.map(() => lnK),
      steps.map((s) => s.steering?.beta ?? 0),
      steps.map((s) => s.validMass ?? null),
    ],
  };
}
