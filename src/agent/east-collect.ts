/**
 * EAST data collection: play logged episodes and keep, per step, the residual at the last prompt
 * token for the chosen layers and the step's action entropy. The hidden states come from the
 * same forward that scores the actions (no second pass over the prompts).
 */
import type { ModelSession } from '../engine/session.js';
import { createEnv } from '../envs/registry.js';
import type { Scenario } from '../envs/scenario.js';
import type { StepRecord } from '../trace/schema.js';
import { ControlVector, type VectorMethod } from '../steering/control-vector.js';
import type { EastRun } from '../steering/east.js';
import { runEpisode, type Mode } from './agent.js';

export interface CollectOptions {
  envId: string;
  envOptions?: Record<string, unknown>;
  scenario: Scenario;
  episodes: number;
  horizon?: number;
  seed: number;
  layers: number[];
  mode?: Mode;
  samples?: number;
  temperature?: number;
  zPosition?: 'last-prompt' | 'last-prefix';
  /** Format-broken steps (valid mass under this) are left out of the vector like unparseable ones. */
  minValidMass?: number;
  onStep?: (r: StepRecord) => void;
  onEpisode?: (k: number, steps: number) => void;
}

export interface Collected {
  /** runs per layer, same order as options.layers */
  runs: Map<number, EastRun[]>;
  runIds: string[];
  steps: number;
}

export async function collectEastRuns(session: ModelSession, o: CollectOptions): Promise<Collected> {
  const runs = new Map<number, EastRun[]>(o.layers.map((l) => [l, []]));
  const runIds: string[] = [];
  let steps = 0;
  for (let k = 0; k < o.episodes; k++) {
    const env = createEnv(o.envId, { ...(o.envOptions ?? {}), ...(o.horizon ? { horizon: o.horizon } : {}) });
    const r = await runEpisode(
      session,
      env,
      o.scenario,
      o.seed + k,
      { mode: o.mode ?? 'exact', samples: o.samples, temperature: o.temperature ?? 1, horizon: o.horizon, recordLayers: o.layers, zPosition: o.zPosition, minValidMass: o.minValidMass, onStep: o.onStep, policyName: 'east-collect' },
    );
    // A step with no parse, or whose format broke, is not a choice: its entropy is not an action entropy.
    const kept = r.steps.map((s, i) => ({ s, z: r.hidden[i]! })).filter(({ s }) => s.valid);
    o.layers.forEach((l, li) => runs.get(l)!.push({ z: kept.map(({ z }) => z[li]!), h: kept.map(({ s }) => s.entropy!) }));
    if (r.summary) runIds.push(r.summary.runId);
    steps += kept.length;
    o.onEpisode?.(k, kept.length);
  }
  return { runs, runIds, steps };
}

/** One ControlVector over all collected layers, with the metadata a reader needs to trust and calibrate it. */
export function vectorFromRuns(session: ModelSession, c: Collected, method: VectorMethod, options: Record<string, unknown> = {}): ControlVector {
  return ControlVector.fromRuns(c.runs, method, {
    model: { id: session.info.modelId, hash: session.info.hash },
    sourceRuns: c.runIds,
    options: { position: 'last-prompt', ...options },
  });
}
