/**
 * The agent: joins a model session to a game. It picks the LLM policy for the mode (exact.ts or
 * sampled.ts) and plays it through the one episode loop (loop.ts), the same loop the baselines use.
 * It knows the engine's session API and the games' Env API, and nothing of the UI.
 */
import type { ModelSession } from '../engine/session.js';
import { checkFits, type Scenario } from '../envs/scenario.js';
import type { Env } from '../envs/types.js';
import type { SteeringSetting } from '../steering/control-vector.js';
import type { RunConfig, StepRecord, SummaryRecord } from '../trace/schema.js';
import type { Seed } from '../util/rng.js';
import { ExactPolicy } from './exact.js';
import type { LlmOptions } from './llm-policy.js';
import { runLoop, steeringConfigOf, type EpisodeHooks } from '../episode/loop.js';
import { SampledPolicy } from './sampled.js';
import { ThoughtPolicy } from './thought.js';

export { MODES, type Mode } from './llm-policy.js';

export interface AgentOptions extends LlmOptions, Omit<EpisodeHooks, 'steering'> {
  horizon?: number;
  /** Fixed steering, or the steering in force at a step and token (live control); null: none. */
  steering?: SteeringSetting | ((step: number, token?: number) => SteeringSetting | null) | null;
  /** What the run config records as its steering; default: the setting at step 0 (null at beta 0). */
  steeringConfig?: RunConfig['steering'];
}

export interface EpisodeResult {
  steps: StepRecord[];
  /** null when the run was stopped before its first step. */
  summary: SummaryRecord | null;
  /** Per step: one Float32Array(hidden) per recorded layer (same order as recordLayers). */
  hidden: Float32Array[][];
}

export async function runEpisode(session: ModelSession, env: Env, scenario: Scenario, seed: Seed, opts: AgentOptions): Promise<EpisodeResult> {
  checkFits(scenario, env);
  const policy =
    opts.mode === 'exact' ? new ExactPolicy(session, scenario, opts)
    : opts.mode === 'thought' ? new ThoughtPolicy(session, scenario, opts)
    : new SampledPolicy(session, scenario, opts);
  const s = opts.steering;
  const steering = typeof s === 'function' ? s : s ? () => s : undefined;
  const r = await runLoop(env, policy, {
    seed,
    scenario,
    horizon: opts.horizon,
    // The model's identity comes from the session itself, so a trace can never name the wrong model.
    model: { id: session.info.modelId, hash: session.info.hash },
    steeringConfig: opts.steeringConfig !== undefined ? opts.steeringConfig : steeringConfigOf(steering?.(0) ?? null),
    vreason: (typeof opts.vreason === 'function' ? opts.vreason() : opts.vreason) ?? null,
    hooks: { pause: opts.pause, shouldStop: opts.shouldStop, onStep: opts.onStep, steering },
  });
  return { ...r, hidden: policy.hidden };
}
