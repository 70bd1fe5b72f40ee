/** Pure data shaping for the Agent panel's chart: uPlot's column arrays from step records. */
import type { StepRecord } from '../trace/schema.js';

export interface EntropyChartData {
  /** [step, entropy (nats), ln K (the maximum), beta in force] as uPlot columns. */
  columns: [number[], number[], number[], number[]];
}

export function entropyChartData(steps: readonly StepRecord[], numActions: number): EntropyChartData {
  const lnK = Math.log(Math.max(1, numActions));
  return {
    columns: [steps.map((s) => s.step), steps.map((s) => s.entropy), steps.map(() => lnK), steps.map((s) => s.steering?.beta ?? 0)],
  };
}
