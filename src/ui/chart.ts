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

/** Stacked action probabilities per step: uPlot columns [step, cum p0, cum p0+p1, …] (null where a step has no distribution). */
export function stackedProbColumns(steps: readonly StepRecord[], numActions: number): (number | null)[][] {
  const x = steps.map((s) => s.step);
  const cols: (number | null)[][] = [x];
  for (let k = 0; k < numActions; k++) {
    cols.push(steps.map((s) => (s.actionProbs ? s.actionProbs.slice(0, k + 1).reduce((a, b) => a + b, 0) : null)));
  }
  return cols;
}

/** [step, cumulative regret, cumulative reward]. */
export function regretColumns(steps: readonly StepRecord[]): number[][] {
  let reward = 0;
  return [steps.map((s) => s.step), steps.map((s) => s.cumRegret), steps.map((s) => (reward += s.reward))];
}

/** How often each action was played. */
export function actionCounts(steps: readonly StepRecord[], numActions: number): number[] {
  const c = new Array<number>(numActions).fill(0);
  for (const s of steps) if (s.action !== null && s.action < numActions) c[s.action]!++;
  return c;
}

/** The steps where β changed from the step before (each is marked on the charts). */
export function betaChanges(steps: readonly StepRecord[]): { step: number; beta: number }[] {
  const out: { step: number; beta: number }[] = [];
  let prev: number | undefined;
  for (const s of steps) {
    const b = s.steering?.beta ?? 0;
    if (prev !== undefined && b !== prev) out.push({ step: s.step, beta: b });
    prev = b;
  }
  return out;
}

/** Two runs on one axis: [step, entropy A, entropy B, valid mass A, valid mass B, regret A, regret B] over the union of their steps. */
export function compareColumns(a: readonly StepRecord[], b: readonly StepRecord[]): (number | null)[][] {
  const n = Math.max(a.length ? a.at(-1)!.step + 1 : 0, b.length ? b.at(-1)!.step + 1 : 0);
  const by = (r: readonly StepRecord[]) => new Map(r.map((s) => [s.step, s]));
  const [ma, mb] = [by(a), by(b)];
  const x = Array.from({ length: n }, (_, i) => i);
  const h = (m: Map<number, StepRecord>) => x.map((i) => { const s = m.get(i); return s && s.valid && !s.formatBroken ? s.entropy : null; });
  const v = (m: Map<number, StepRecord>) => x.map((i) => m.get(i)?.validMass ?? null);
  const r = (m: Map<number, StepRecord>) => x.map((i) => m.get(i)?.cumRegret ?? null);
  return [x, h(ma), h(mb), v(ma), v(mb), r(ma), r(mb)];
}
