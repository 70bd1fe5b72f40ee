/**
 * A run's setup as the page shares it: game, scenario, policy, mode, seed, horizon, the steering
 * (which vector, layer, strength, positions) and V-Reason. Encoded as base64url JSON in the URL
 * fragment (`#setup=…`), so a link restores the controls; stored with every run so a fork starts
 * from it. Validated with zod on the way in: a bad link gives one line, never half a setup.
 */
import { z } from 'zod';
import { SteerlabError } from '../errors.js';
import { POSITIONS } from '../engine/hook-points.js';
import { POLICY_NAMES } from '../baselines/run.js';
import { EAST_PRESETS } from '../envs/registry.js';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const count = (max: number) => z.number().int().min(1).max(max);

export const SETUP_VERSION = 1;

export const setupSchema = z.strictObject({
  v: z.literal(SETUP_VERSION),
  env: z.string().min(1),
  scenario: z.string().min(1),
  /** An imported scenario travels whole (validated again by loadScenario when applied). */
  scenarioJson: z.record(z.string(), z.unknown()).optional(),
  preset: z.enum(Object.keys(EAST_PRESETS) as [keyof typeof EAST_PRESETS]).optional(),
  policy: z.enum(['llm', ...POLICY_NAMES]),
  mode: z.enum(['exact', 'sampled', 'thought']),
  samples: count(200),
  maxThoughtTokens: count(512),
  temperature: finite.min(0).max(5),
  minValidMass: finite.min(0).max(1),
  horizon: count(100_000),
  seed: z.number().int(),
  steering: z.strictObject({
    /** random: the seeded unit direction; library: a stored vector, by its id (the link carries no vector data). */
    source: z.enum(['random', 'library']),
    seed: z.number().int(),
    vectorId: z.string().nullable(),
    layer: z.number().int().min(0),
    beta: finite,
    positions: z.enum(POSITIONS as [string, ...string[]]),
    scale: z.enum(['linear', 'log']),
  }),
  vreason: z.strictObject({
    on: z.boolean(),
    level: z.enum(['token', 'action']),
    mode: z.enum(['switch', 'down', 'up']),
    every: count(64),
    steps: count(100),
    lr: finite.positive().max(10),
  }),
});

export type LabSetup = z.infer<typeof setupSchema>;

const PREFIX = 'setup=';

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(s: string): string {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/** The fragment (without '#') that restores `setup`. */
export function encodeSetup(setup: LabSetup): string {
  return PREFIX + toBase64Url(JSON.stringify(setupSchema.parse(setup)));
}

/** The setup in a fragment ('#setup=…' or 'setup=…'); null when the fragment holds none; one-line error when it is bad. */
export function decodeSetup(fragment: string): LabSetup | null {
  const f = fragment.replace(/^#/, '');
  if (!f.startsWith(PREFIX)) return null;
  let json: unknown;
  try {
    json = JSON.parse(fromBase64Url(f.slice(PREFIX.length)));
  } catch {
    throw new SteerlabError('BAD_ARGUMENT', 'the link\'s setup is not valid base64url JSON (was it cut short?)');
  }
  const r = setupSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new SteerlabError('BAD_ARGUMENT', `the link's setup is invalid: ${issue.path.join('.') || 'setup'}: ${issue.message}`);
  }
  return r.data;
}
