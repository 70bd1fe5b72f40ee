/**
 * The game registry: createEnv(id, options) validates options with a strict zod schema (so a typo
 * in an option name is an error, not a silent default) and builds the game.
 */
import { z } from 'zod';
import { SteerlabError } from '../errors.js';
import { Bandit } from './bandit';
import { CliffWalking } from './cliffwalking';
import { FROZENLAKE_MAPS, FrozenLake } from './frozenlake';
import { firstIssue } from './issue';
import type { Env, EnvKind } from './types';

/** EAST's mean pairs (paper §2): equal means for vector extraction, the rest for evaluation. */
export const EAST_PRESETS = {
  equal: [100, 100],
  '95-105': [95, 105],
  '99-101': [99, 101],
  '101-99': [101, 99],
  '105-95': [105, 95],
} as const satisfies Record<string, readonly [number, number]>;

/** Default names for gaussian-named: BanditBench-style video titles (our own list, not theirs). */
export const VIDEO_NAMES = ['AI Video', 'Robotics Video', 'Cooking Video', 'Travel Video', 'Gardening Video'];

const horizon = (d: number) => z.number().int().min(1).max(100_000).default(d);
const labels = z.array(z.string().min(1)).refine((xs) => new Set(xs).size === xs.length, 'labels must be unique');

const eastSchema = z
  .strictObject({
    preset: z.enum(Object.keys(EAST_PRESETS) as [keyof typeof EAST_PRESETS]).optional(),
    means: z.tuple([z.number(), z.number()]).optional(),
    sigma: z.number().positive().default(10),
    horizon: horizon(50),
    labels: z.tuple([z.string().min(1), z.string().min(1)]).default(['Button 1', 'Button 2']),
  })
  .refine((o) => !(o.preset && o.means), { message: "give either 'preset' or 'means', not both", path: ['means'] });

const bernoulliSchema = (k: number, delta: number) =>
  z
    .strictObject({
      K: z.number().int().min(2).max(100).default(k),
      delta: z.number().gt(0).max(1).default(delta),
      horizon: horizon(100),
      shuffle: z.boolean().default(true),
      labels: labels.optional(),
    })
    .refine((o) => !o.labels || o.labels.length === o.K, { message: 'needs exactly K labels', path: ['labels'] });

const namedSchema = z
  .strictObject({
    names: labels.min(2).default(VIDEO_NAMES),
    means: z.array(z.number()).optional(),
    meanSd: z.number().positive().default(1),
    sigma: z.number().positive().default(1),
    horizon: horizon(100),
  })
  .refine((o) => !o.means || o.means.length === o.names.length, { message: 'needs one mean per name', path: ['means'] });

const frozenSchema = z.strictObject({
  map: z.union([z.enum(['4x4', '8x8']), z.array(z.string())]).default('4x4'),
  slippery: z.boolean().default(false),
  horizon: horizon(100),
  gamma: z.number().gt(0).lt(1).default(0.99),
});

const cliffSchema = z.strictObject({ horizon: horizon(100) });

export interface EnvInfo {
  id: string;
  kind: EnvKind;
  description: string;
  /** The options with every default filled in. */
  defaults: Record<string, unknown>;
}

interface Entry {
  kind: EnvKind;
  description: string;
  schema: z.ZodType<Record<string, unknown>>;
  build(opts: Record<string, unknown>): Env;
}

function bernoulli(id: string) {
  return (o: Record<string, unknown>): Env => {
    const { K, delta, horizon: T, shuffle, labels: names } = o as z.output<ReturnType<typeof bernoulliSchema>>;
    return new Bandit({
      id,
      labels: names ?? Array.from({ length: K }, (_, i) => `Arm ${i + 1}`),
      horizon: T,
      law: { kind: 'bernoulli' },
      feedbackDecimals: 0,
      extraParams: { delta },
      // Best arm 0.5 + delta/2, the others 0.5 - delta/2 (Krishnamurthy et al.); its position is
      // drawn per seed so the agent cannot learn "the first arm is best".
      meansFor: (rng) => {
        const means = [0.5 + delta / 2, ...Array.from({ length: K - 1 }, () => 0.5 - delta / 2)];
        return shuffle ? rng.shuffle(means) : means;
      },
    });
  };
}

const ENVS: Record<string, Entry> = {
  'east-gauss2': {
    kind: 'bandit',
    description: "EAST's two-armed Gaussian bandit: reward ~ N(mean, sigma = 10), T = 50, mean presets from the paper",
    schema: eastSchema,
    build: (o) => {
      const opts = o as z.output<typeof eastSchema>;
      const means = opts.means ?? EAST_PRESETS[opts.preset ?? 'equal'];
      return new Bandit({
        id: 'east-gauss2',
        labels: [...opts.labels],
        horizon: opts.horizon,
        law: { kind: 'gaussian', sigma: opts.sigma },
        feedbackDecimals: 1,
        extraParams: opts.preset ? { preset: opts.preset } : {},
        meansFor: () => [...means],
      });
    },
  },
  'bernoulli-hard': {
    kind: 'bandit',
    description: 'Bernoulli bandit, K = 5, best arm 0.6, others 0.4 (Krishnamurthy et al. hard), T = 100, arm order shuffled by seed',
    schema: bernoulliSchema(5, 0.2),
    build: bernoulli('bernoulli-hard'),
  },
  'bernoulli-easy': {
    kind: 'bandit',
    description: 'Bernoulli bandit, K = 4, best arm 0.75, others 0.25 (Krishnamurthy et al. easy), T = 100, arm order shuffled by seed',
    schema: bernoulliSchema(4, 0.5),
    build: bernoulli('bernoulli-easy'),
  },
  'gaussian-named': {
    kind: 'bandit',
    description: 'Gaussian bandit with named actions (BanditBench-style); means given or drawn per seed from N(0, meanSd), noise sigma',
    schema: namedSchema,
    build: (o) => {
      const opts = o as z.output<typeof namedSchema>;
      return new Bandit({
        id: 'gaussian-named',
        labels: [...opts.names],
        horizon: opts.horizon,
        law: { kind: 'gaussian', sigma: opts.sigma },
        feedbackDecimals: 2,
        extraParams: { meanSd: opts.meanSd },
        meansFor: (rng) => (opts.means ? [...opts.means] : opts.names.map(() => rng.normal(0, opts.meanSd))),
      });
    },
  },
  frozenlake: {
    kind: 'grid',
    description: "Gymnasium's FrozenLake (4x4 or 8x8 map, or your own), optional 1/3-1/3-1/3 slipping, reward 1 at the goal",
    schema: frozenSchema,
    build: (o) => {
      const opts = o as z.output<typeof frozenSchema>;
      const map = typeof opts.map === 'string' ? FROZENLAKE_MAPS[opts.map] : opts.map;
      return new FrozenLake({ map, slippery: opts.slippery, horizon: opts.horizon, gamma: opts.gamma });
    },
  },
  cliffwalking: {
    kind: 'grid',
    description: "Gymnasium's CliffWalking: 4 x 12, -1 per step, -100 for the cliff and back to the start",
    schema: cliffSchema,
    build: (o) => new CliffWalking(o as z.output<typeof cliffSchema>),
  },
};

export function listEnvs(): EnvInfo[] {
  return Object.entries(ENVS).map(([id, e]) => ({
    id,
    kind: e.kind,
    description: e.description,
    defaults: e.schema.parse({}),
  }));
}

export function createEnv(id: string, options: Record<string, unknown> = {}): Env {
  const entry = Object.hasOwn(ENVS, id) ? ENVS[id] : undefined;
  if (!entry) throw new SteerlabError('BAD_ARGUMENT', `unknown env '${id}'; known: ${Object.keys(ENVS).join(', ')}`);
  const parsed = entry.schema.safeParse(options);
  if (!parsed.success) {
    const issue = firstIssue(parsed.error);
    throw new SteerlabError('BAD_ARGUMENT', `env ${id}: ${issue.startsWith('field ') ? `option ${issue.slice(6)}` : `options: ${issue}`}`);
  }
  return entry.build(parsed.data);
}
