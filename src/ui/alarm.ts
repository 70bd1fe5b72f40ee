/**
 * The invalid-answer alarm: over the last `window` steps the share of steps that were no choice
 * (nothing parsed, or the format broke) jumped to at least `rate` and by at least `jump` from the
 * steps before. A steering strength that breaks the answer format shows here first, before the
 * entropy chart (which leaves such steps out) can mislead.
 */
import type { StepRecord } from '../trace/schema.js';

export interface AlarmOptions {
  window?: number;
  rate?: number;
  jump?: number;
}

const noChoice = (s: StepRecord) => !s.valid || !!s.formatBroken;

export function invalidAlarm(steps: readonly StepRecord[], o: AlarmOptions = {}): string | null {
  const w = o.window ?? 5;
  const rate = o.rate ?? 0.6;
  const jump = o.jump ?? 0.4;
  if (steps.length < Math.min(w, 3)) return null;
  const recent = steps.slice(-w);
  const before = steps.slice(0, -w);
  const r = recent.filter(noChoice).length / recent.length;
  const b = before.length ? before.filter(noChoice).length / before.length : 0;
  if (r < rate || r - b < jump) return null;
  const pct = (x: number) => `${Math.round(x * 100)} %`;
  const from = recent[0]!.step;
  const beta = recent.at(-1)!.steering?.beta;
  return `invalid answers jumped to ${pct(r)} over steps ${from}–${recent.at(-1)!.step} (${before.length ? `${pct(b)} before` : 'from the start'})${beta !== undefined ? `, at β ${beta}` : ''}: the answer format is breaking, so entropy there is not a choice`;
}
