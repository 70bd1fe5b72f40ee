/**
 * The one episode loop. Every player of a game (the LLM in exact or sampled mode, each baseline)
 * is an EpisodePolicy; the loop resets the game, asks the policy for a decision each step, plays
 * it, grows the history by one turn and writes one trace record. Callers steer and pace it through
 * explicit hooks: `pause` is awaited before every step (the worker yields to its message loop
 * there), `steering` is read at every step, `shouldStop` ends the episode between steps.
 */
import type { History, Turn } from '../envs/prompt.js';
import { stepFeedback } from '../envs/prompt.js';
import { scenarioActions, type Scenario, type ScenarioAction } from '../envs/scenario.js';
import type { Env } from '../envs/types.js';
import { entropy } from '../metrics/entropy.js';
import type { SteeringSetting } from '../steering/control-vector.js';
import { summaryRecordFor } from '../trace/jsonl.js';
import type { RunConfig, StepRecord, SummaryRecord } from '../trace/schema.js';
import type { Seed } from '../util/rng.js';

export interface EpisodeHooks {
  /** Awaited before every step (and by LLM policies between tokens): where a worker yields. */
  pause?: () => Promise<void>;
  /** The steering in force at a step and, in sampled mode, from a token of its thought on. */
  steering?: (step: number, token?: number) => SteeringSetting | null;
  /** Checked before every step, after pause; true ends the episode there. */
  shouldStop?: () => boolean;
  onStep?: (record: StepRecord) => void;
}

/** What a policy sees at a step. */
export interface StepContext {
  step: number;
  env: Env;
  scenario: Scenario | null;
  actions: readonly ScenarioAction[];
  history: History;
  /** Steering in force at this step (null: none). */
  steering: SteeringSetting | null;
  hooks: EpisodeHooks;
}

export interface Decision {
  /** Action distribution (probabilities, or frequencies of parsed samples); null when there is none. */
  probs: number[] | null;
  /** The action played; null when nothing parsed and the episode ends. */
  action: number | null;
  valid: boolean;
  /** Exact/thought modes: probability of any valid answer before renormalising. */
  validMass?: number;
  /** Valid mass below the run's minimum: the answer format broke, so the step is no choice. */
  formatBroken?: boolean;
  /** The policy's text for the history's turn (LLM: the answer or the acted-on completion). */
  completion: string;
  /** Trace fields the policy owns. */
  promptTokens?: number | null;
  traceCompletion?: string | null;
  completions?: string[];
  timings?: Record<string, number>;
  extra?: Record<string, unknown>;
}

export interface EpisodePolicy {
  /** config.policy in the trace, e.g. 'ucb' or 'llm-sample-T1'. */
  readonly name: string;
  readonly mode: RunConfig['mode'];
  /** Called once after env.reset(seed). */
  start(env: Env, seed: Seed): void;
  decide(ctx: StepContext): Promise<Decision> | Decision;
  /** What the action just played earned. */
  observe?(action: number, reward: number): void;
  /** Frees what the policy holds (KV caches); called when the episode ends or fails. */
  dispose?(): void;
}

export interface LoopOptions {
  seed: Seed;
  scenario: Scenario | null;
  /** At most the game's own horizon. */
  horizon?: number;
  model?: { id: string; hash: string } | null;
  hooks?: EpisodeHooks;
  /** Layer, beta, vector id and positions of the steering at step 0, for the run config. */
  steeringConfig?: RunConfig['steering'];
  /** V-Reason settings of the run, for the run config. */
  vreason?: RunConfig['vreason'];
}


export interface LoopResult {
  steps: StepRecord[];
  /** null when the run was stopped before its first step. */
  summary: SummaryRecord | null;
}

/** A run's id: game, policy, mode, seed, and the steering it started with (so sweep cells never merge). */
export function runIdOf(c: Pick<RunConfig, 'env' | 'policy' | 'mode' | 'seed' | 'steering' | 'vreason'>): string {
  const base = c.mode === 'baseline' ? `${c.env}:${c.policy}:${String(c.seed)}` : `${c.env}:${c.policy}:${c.mode}:${String(c.seed)}`;
  const s = c.steering;
  const v = c.vreason;
  const vr = v ? `:vreason-${v.level}-${v.mode}-k${v.every}s${v.steps}lr${v.lr}` : '';
  return (s ? `${base}:${s.vectorId}@${s.layers?.join('+') ?? s.layer}x${s.beta}/${s.positions ?? 'generated'}` : base) + vr;
}

export async function runLoop(env: Env, policy: EpisodePolicy, o: LoopOptions): Promise<LoopResult> {
  const hooks = o.hooks ?? {};
  const initial = env.reset(o.seed);
  const actions = o.scenario ? scenarioActions(o.scenario, env.actions()) : env.actions().map((a) => ({ ...a, answer: a.label }) as ScenarioAction);
  const horizon = Math.min(o.horizon ?? env.horizon, env.horizon);
  const config: RunConfig = {
    modelId: o.model?.id ?? null,
    modelHash: o.model?.hash ?? null,
    env: env.id,
    envOptions: env.params(),
    scenario: o.scenario?.id ?? null,
    seed: o.seed,
    policy: policy.name,
    mode: policy.mode,
    steering: o.steeringConfig ?? null,
    horizon,
    ...(o.vreason ? { vreason: o.vreason } : {}),
  };
  const runId = runIdOf(config);
  const history: History = { initial, turns: [] };
  const steps: StepRecord[] = [];
  let cumRegret = 0;
  policy.start(env, o.seed);
  try {
    for (let t = 0; t < horizon && !env.isDone(); t++) {
      await hooks.pause?.();
      if (hooks.shouldStop?.()) break;
      const t0 = performance.now();
      const steering = hooks.steering?.(t) ?? null;
      const d = await policy.decide({ step: t, env, scenario: o.scenario, actions, history, steering, hooks });
      const tDecide = performance.now();
      let reward = 0;
      let regret = 0;
      let done = true;
      let observation = '';
      let envFeedback = '';
      if (d.action !== null) {
        const r = env.step(d.action);
        ({ reward, regret, observation } = r);
        done = r.done || t + 1 >= horizon;
        envFeedback = o.scenario ? stepFeedback(o.scenario, actions, d.action, r) : '';
        policy.observe?.(d.action, reward);
      }
      cumRegret += regret;
      const record: StepRecord = {
        type: 'step',
        runId,
        step: t,
        config,
        promptTokens: d.promptTokens ?? null,
        completion: d.traceCompletion ?? null,
        ...(d.completions ? { completions: d.completions } : {}),
        actionProbs: d.probs,
        entropy: d.probs ? entropy(d.probs) : null,
        action: d.action,
        actionLabel: d.action === null ? null : actions[d.action]!.label,
        valid: d.valid,
        ...(d.validMass !== undefined ? { validMass: d.validMass } : {}),
        ...(d.formatBroken ? { formatBroken: true } : {}),
        reward,
        regret,
        cumRegret,
        done,
        steering: steeringRecord(steering),
        timings: d.timings ? { ...d.timings, decide: tDecide - t0 - (d.timings.prompt ?? 0), total: performance.now() - t0 } : {},
        ...(d.extra ? { extra: d.extra } : {}),
      };
      steps.push(record);
      hooks.onStep?.(record);
      const turn: Turn = { action: d.action, valid: d.valid, completion: d.completion, reward, observation, envFeedback };
      history.turns.push(turn);
      if (done) break;
    }
  } finally {
    policy.dispose?.();
  }
  // A run stopped before its first step has nothing to summarise.
  return { steps, summary: steps.length ? summaryRecordFor(runId, config, steps, actions.length) : null };
}

/** The trace's per-step steering: layer (first layer) and beta, plus all layers for a multi-layer vector. */
export function steeringRecord(s: SteeringSetting | null): StepRecord['steering'] {
  if (!s || s.beta === 0) return null;
  const layers = s.vector.layers;
  return layers.length > 1 ? { layer: layers[0]!, beta: s.beta, layers } : { layer: layers[0]!, beta: s.beta };
}

/** The run config's steering: the setting at step 0 (null at beta 0 unless `keepZero`: a live run names its vector). */
export function steeringConfigOf(s: SteeringSetting | null, keepZero = false): RunConfig['steering'] {
  if (!s || (s.beta === 0 && !keepZero)) return null;
  const layers = s.vector.layers;
  return { layer: layers[0]!, beta: s.beta, vectorId: s.vector.id, positions: s.positions, ...(layers.length > 1 ? { layers } : {}) };
}
