/**
 * The V-Reason sign rule. H_ema is an exponential moving average of the observed entropy and
 * peak its running maximum; alpha = -1 (lower entropy) once the EMA is below its peak, else +1
 * (raise it). `down` and `up` are the paper's ablations with a fixed sign.
 */
import type { VReasonMode } from './settings.js';

export interface SwitchState {
  ema: number | null;
  peak: number;
}

export const newSwitch = (): SwitchState => ({ ema: null, peak: -Infinity });

/** Observes one entropy; returns the new state and the sign for this token (or step). */
export function observe(s: SwitchState, h: number, beta: number, mode: VReasonMode): { state: SwitchState; alpha: 1 | -1 } {
  const ema = s.ema === null ? h : beta * s.ema + (1 - beta) * h;
  const peak = Math.max(s.peak, ema);
  const alpha: 1 | -1 = mode === 'up' ? 1 : mode === 'down' ? -1 : ema < peak ? -1 : 1;
  return { state: { ema, peak }, alpha };
}
