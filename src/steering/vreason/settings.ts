/**
 * V-Reason settings. Everything the paper leaves unpublished is a setting here with a stated
 * default (see the README's V-Reason section); `parseVReason` reads the CLI's
 * `k=2,steps=3,lr=0.01,mode=switch,level=token` form and names the field that is wrong.
 */
import { z } from 'zod';
import { SteerlabError } from '../../errors.js';

export type VReasonMode = 'switch' | 'down' | 'up';
export type VReasonLevel = 'token' | 'action';
/** Which cache rows dV acts on: this step's new prompt tokens (the observation), or the whole prompt. */
export type VReasonSpan = 'step' | 'prompt';

export interface VReasonSettings {
  /** Update every k-th generated token (the paper's best: 2). Action level: every step. */
  every: number;
  /** Adam steps per update. */
  steps: number;
  /** Adam learning rate. */
  lr: number;
  /** Sign rule: the paper's EMA/peak switch, or always lower (down) / raise (up) entropy. */
  mode: VReasonMode;
  /** Token: the next-token distribution in free text. Action: the action distribution (the lab's extension). */
  level: VReasonLevel;
  /** EMA coefficient: ema_k = beta * ema_{k-1} + (1 - beta) * H_k. */
  ema: number;
  span: VReasonSpan;
  /** Action level: weight of -log(valid mass) in the objective, so entropy is not bought by breaking the format. */
  mass: number;
}

export const VREASON_DEFAULTS: VReasonSettings = { every: 2, steps: 1, lr: 0.05, mode: 'switch', level: 'token', ema: 0.9, span: 'step', mass: 1 };

const schema = z.object({
  every: z.number().int().min(1),
  steps: z.number().int().min(1).max(100),
  lr: z.number().positive().max(10),
  mode: z.enum(['switch', 'down', 'up']),
  level: z.enum(['token', 'action']),
  ema: z.number().min(0).lt(1),
  span: z.enum(['step', 'prompt']),
  mass: z.number().min(0),
}).strict();

/** Checks a settings object (from the worker API or a config file); one-line error naming the field. */
export function checkVReason(s: Partial<VReasonSettings>): VReasonSettings {
  const r = schema.safeParse({ ...VREASON_DEFAULTS, ...s });
  if (!r.success) {
    const i = r.error.issues[0]!;
    const field = i.path.join('.') || (i as { keys?: string[] }).keys?.join(', ') || '?';
    throw new SteerlabError('BAD_ARGUMENT', `V-Reason setting '${field}': ${i.message}`);
  }
  return r.data as VReasonSettings;
}

const ALIASES: Record<string, keyof VReasonSettings> = { k: 'every', every: 'every', steps: 'steps', lr: 'lr', mode: 'mode', level: 'level', ema: 'ema', span: 'span', mass: 'mass' };
const NUMERIC = new Set<keyof VReasonSettings>(['every', 'steps', 'lr', 'ema', 'mass']);

/** `k=2,steps=3,lr=0.01[,mode=switch|down|up][,level=token|action][,ema=0.9][,span=step|prompt][,mass=1]`; "on" or "" gives the defaults. */
export function parseVReason(text: string): VReasonSettings {
  const out: Record<string, unknown> = {};
  const t = text.trim();
  if (t && t !== 'on') {
    for (const part of t.split(',')) {
      const [k, v, ...more] = part.split('=').map((x) => x.trim());
      const key = ALIASES[k ?? ''];
      if (!key) throw new SteerlabError('BAD_ARGUMENT', `--vreason: unknown field '${k}' (known: ${Object.keys(ALIASES).join(', ')})`);
      if (v === undefined || v === '' || more.length) throw new SteerlabError('BAD_ARGUMENT', `--vreason: field '${k}' needs one value (${k}=...)`);
      if (NUMERIC.has(key)) {
        const n = Number(v);
        if (!Number.isFinite(n)) throw new SteerlabError('BAD_ARGUMENT', `--vreason: field '${k}' is not a number: '${v}'`);
        out[key] = n;
      } else out[key] = v;
    }
  }
  try {
    return checkVReason(out as Partial<VReasonSettings>);
  } catch (e) {
    throw new SteerlabError('BAD_ARGUMENT', `--vreason: ${(e as Error).message.replace(/^V-Reason setting /, 'field ')}`);
  }
}
