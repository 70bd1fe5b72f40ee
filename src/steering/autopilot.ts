/**
 * Entropy autopilot (beyond the papers): sets the steering strength each step so the action
 * entropy approaches a target, as a clamped PI controller on the error target - H. A step whose
 * format broke (no choice, or valid mass under its floor) says the strength is already too
 * high: beta is pulled back toward 0 by `backoff` and the integral is reset. Pure functions.
 */
import { SteerlabError } from '../errors.js';

export interface AutopilotSettings {
  /** Target action entropy (nats). */
  target: number;
  /** Proportional and integral gains (beta per nat of error). */
  kp: number;
  ki: number;
  /** Strength bounds. */
  min: number;
  max: number;
  /** Factor applied to beta after a format-broken step (0..1). */
  backoff: number;
}

export const AUTOPILOT_DEFAULTS: Omit<AutopilotSettings, 'target'> = { kp: 2, ki: 0.5, min: -8, max: 8, backoff: 0.5 };

export interface AutopilotState {
  beta: number;
  integral: number;
}

export function checkAutopilot(s: Partial<AutopilotSettings> & { target?: number }): AutopilotSettings {
  const v = { ...AUTOPILOT_DEFAULTS, ...s } as AutopilotSettings;
  const bad = (m: string): never => {
    throw new SteerlabError('BAD_ARGUMENT', `autopilot: ${m}`);
  };
  if (!Number.isFinite(v.target) || v.target < 0) bad(`field 'target' must be an entropy >= 0 (nats), got ${String(s.target)}`);
  for (const k of ['kp', 'ki', 'min', 'max', 'backoff'] as const) if (!Number.isFinite(v[k])) bad(`field '${k}' must be a number`);
  if (v.min > v.max) bad(`field 'min' (${v.min}) is above 'max' (${v.max})`);
  if (v.backoff < 0 || v.backoff > 1) bad(`field 'backoff' must be in 0..1, got ${v.backoff}`);
  return v;
}

/** The strength for the next step, from this step's entropy (null: the format broke). */
export function autopilotStep(s: AutopilotSettings, st: AutopilotState, entropy: number | null): AutopilotState {
  const clamp = (b: number) => Math.min(s.max, Math.max(s.min, b));
  if (entropy === null || !Number.isFinite(entropy)) return { beta: clamp(st.beta * s.backoff), integral: 0 };
  const err = s.target - entropy;
  const integral = st.integral + err;
  const beta = clamp(st.beta + s.kp * err + s.ki * integral);
  // Anti-windup: while the output sits at a bound, the integral does not grow further.
  return { beta, integral: beta === s.max || beta === s.min ? st.integral : integral };
}

/** `target=0.6[,kp=2][,ki=0.5][,min=-8][,max=8][,backoff=0.5]`. */
export function parseAutopilot(text: string): AutopilotSettings {
  const out: Record<string, number> = {};
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [k, v, ...more] = part.split('=');
    if (!k || !['target', 'kp', 'ki', 'min', 'max', 'backoff'].includes(k)) throw new SteerlabError('BAD_ARGUMENT', `autopilot: unknown field '${k}' (known: target, kp, ki, min, max, backoff)`);
    if (v === undefined || more.length || !Number.isFinite(Number(v))) throw new SteerlabError('BAD_ARGUMENT', `autopilot: field '${k}' needs one number (${k}=...)`);
    out[k] = Number(v);
  }
  return checkAutopilot(out);
}
