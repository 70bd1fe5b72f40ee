/**
 * The agent: joins a model session to a game. Each step it builds the chat prompt from the
 * scenario and history, gets the action distribution (exact log-probs or sampled completions),
 * picks and plays an action, and writes one trace record. It knows the engine's session API and
 * the games' Env API, and nothing of the UI.
 *
 * Steering positions: 'generated' steers the assistant's turn only: in sampled mode every token
 * of the thought; in exact mode the answer prefix and the scored action tokens (nothing is
 * generated freely there, so that is where the model "would be writing"). The prompt cache is
 * never steered under 'generated', so each step sees the history exactly as a fresh prefill would.
 * z (hidden state) is read at the last prompt token, before the assistant's turn.
 */
import { SteerlabError } from '../errors.js';
import { normalizeLogProbs } from '../engine/logits.js';
import type { ModelSession, Steering, SteerPositions } from '../engine/session.js';
import { buildMessages, stepFeedback, type History, type Turn } from '../envs/prompt.js';
import { answerCompletion, scenarioActions, checkFits, type Scenario } from '../envs/scenario.js';
import { parseAction } from '../envs/parse.js';
import type { Env } from '../envs/types.js';
import { entropy } from '../metrics/entropy.js';
import { summaryRecordFor } from '../trace/jsonl.js';
import type { RunConfig, StepRecord, SummaryRecord } from '../trace/schema.js';
import { Rng, type Seed } from '../util/rng.js';
import { PromptCache } from './prompt-cache.js';

export type Mode = 'exact' | 'sampled';
export type ActionPolicy = 'sample' | 'greedy';

/** A steering vector whose strength may change between steps or tokens (live control). */
export interface SteeringControl {
  id: string;
  layer: number;
  vector: Float32Array;
  positions: SteerPositions;
  /** Strength in force at a step; `token` is the index within a sampled completion. */
  beta: (step: number, token?: number) => number;
}

export interface AgentOptions {
  mode: Mode;
  /** Sampled mode: completions per step (EAST: 25). */
  samples?: number;
  /** Sampling temperature of completions (sampled) or of the action distribution (exact). */
  temperature?: number;
  topP?: number;
  /** How the played action is chosen from the exact distribution. */
  actionPolicy?: ActionPolicy;
  maxThoughtTokens?: number;
  steering?: SteeringControl | null;
  /** Layers whose residual is kept per step (for EAST). */
  recordLayers?: number[];
  /**
   * Where that residual is read: the last prompt token (default, the paper's choice) or, in exact
   * mode, the last token of the fixed answer prefix (just before the action tokens).
   */
  zPosition?: 'last-prompt' | 'last-prefix';
  /** Keep the prompt's KV cache across steps (default true; false re-runs the full prompt). */
  reuseCache?: boolean;
  horizon?: number;
  historyStyle?: 'dialogue' | 'summary' | 'raw';
  onStep?: (record: StepRecord) => void;
  /** Checked between steps; returning true stops the episode early. */
  shouldStop?: () => boolean;
}

export interface EpisodeResult {
  steps: StepRecord[];
  summary: SummaryRecord;
  /** Per step: one Float32Array(hidden) per recorded layer (same order as recordLayers). */
  hidden: Float32Array[][];
}

function steeringAt(ctrl: SteeringControl | null | undefined, step: number, token?: number): Steering | null {
  if (!ctrl) return null;
  const beta = ctrl.beta(step, token);
  if (beta === 0) return null;
  return { vectors: [{ layer: ctrl.layer, vector: ctrl.vector, beta }], positions: ctrl.positions };
}

function argmax(p: number[]): number {
  let b = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[b]!) b = i;
  return b;
}

/** Token ids of each candidate's full text, split into the part all share and the rest. */
function splitShared(all: number[][]): { shared: number[]; rest: number[][] } {
  let n = 0;
  const min = Math.min(...all.map((a) => a.length));
  while (n < min && all.every((a) => a[n] === all[0]![n])) n++;
  // Each candidate must keep >= 1 own token to be scored.
  if (all.some((a) => a.length === n)) n--;
  return { shared: all[0]!.slice(0, n), rest: all.map((a) => a.slice(n)) };
}

function hasPrefixClash(rest: number[][]): boolean {
  return rest.some((a, i) => rest.some((b, j) => i !== j && a.length < b.length && a.every((x, k) => x === b[k])));
}

export async function runEpisode(session: ModelSession, env: Env, scenario: Scenario, seed: Seed, opts: AgentOptions, runConfig: Omit<RunConfig, 'seed' | 'envOptions' | 'modelId' | 'modelHash'>): Promise<EpisodeResult> {
  checkFits(scenario, env);
  const initial = env.reset(seed);
  const actions = scenarioActions(scenario, env.actions());
  const K = actions.length;
  const rng = new Rng(seed).fork(`agent:${opts.mode}`);
  const random = () => rng.next();
  const T = opts.temperature ?? 1;
  const horizon = Math.min(opts.horizon ?? env.horizon, env.horizon);
  // The model's identity comes from the session itself, so a trace can never name the wrong model.
  const config: RunConfig = { ...runConfig, modelId: session.info.modelId, modelHash: session.info.hash, seed, envOptions: env.params() };
  const runId = `${config.env}:${config.policy}:${opts.mode}:${String(seed)}`;
  const history: History = { initial, turns: [] };
  const steps: StepRecord[] = [];
  const hidden: Float32Array[][] = [];
  const cache = new PromptCache(session, opts.reuseCache ?? true);
  const recordLayers = opts.recordLayers ?? [];
  const H = session.info.hidden;
  for (const l of recordLayers) if (l < 0 || l >= session.info.layers) throw new SteerlabError('BAD_ARGUMENT', `record layer ${l} is outside 0..${session.info.layers - 1}`);
  let cumRegret = 0;
  try {
    for (let t = 0; t < horizon && !env.isDone(); t++) {
      if (opts.shouldStop?.()) break;
      const t0 = performance.now();
      const steer = steeringAt(opts.steering, t);
      const promptSteer = steer && steer.positions === 'all' ? steer : null;
      const prompt = session.chat(buildMessages(scenario, env, history, opts.historyStyle ?? scenario.history.style), true);
      let probs: number[];
      let action: number | null;
      let valid = true;
      let completion = '';
      let completions: string[] | undefined;
      const extra: Record<string, unknown> = {};
      let promptTokens: number;
      let tPrompt: number;
      if (opts.mode === 'exact') {
        // Tokenise prompt + full answer per action; the shared head goes through the cache.
        const promptIds = session.encode(prompt);
        let full = actions.map((a) => session.encode(prompt + scenario.answer.prefix + a.answer));
        // When one answer's tokens start another's ("1" vs "10"), score through the suffix ("1." vs
        // "10.") so each probability is of the whole answer, not of a prefix shared with others.
        if (scenario.answer.suffix && hasPrefixClash(splitShared(full).rest)) {
          full = actions.map((a) => session.encode(prompt + answerCompletion(scenario, a)));
        }
        const { shared, rest } = splitShared(full);
        if (shared.length < promptIds.length || shared.slice(0, promptIds.length).some((x, i) => x !== promptIds[i])) {
          throw new SteerlabError('BAD_SCENARIO', `scenario '${scenario.id}': the answer prefix merges with the prompt's last token; exact scoring needs a clean boundary`);
        }
        promptTokens = promptIds.length;
        const prefix = shared.slice(promptIds.length);
        const zAt = opts.zPosition === 'last-prefix' && prefix.length > 0 ? shared.length - 1 : promptIds.length - 1;
        let scores: number[];
        if (!steer) {
          // Unsteered: prompt and answer prefix go through the kept cache in one forward; the next
          // prompt repeats this prefix, so it is reused too.
          const pr = await cache.extend(shared, null, zAt);
          tPrompt = performance.now() - t0;
          Object.assign(extra, { cachedTokens: pr.reused, newTokens: pr.computed });
          if (recordLayers.length) hidden.push(recordLayers.map((l) => pr.hidden.slice(l * H, (l + 1) * H)));
          scores = await session.scoreContinuations(cache.kv, pr.logits, rest, null);
        } else {
          // Steered: the prefix and actions are the steered positions; they run on a fork so the
          // kept cache holds the history exactly as an unsteered prefill would.
          const zAtPrefix = zAt >= promptIds.length;
          const pr = await cache.extend(promptIds, promptSteer);
          tPrompt = performance.now() - t0;
          Object.assign(extra, { cachedTokens: pr.reused, newTokens: pr.computed });
          if (recordLayers.length && !zAtPrefix) hidden.push(recordLayers.map((l) => pr.hidden.slice(l * H, (l + 1) * H)));
          const fork = cache.kv.fork();
          try {
            let logits = pr.logits;
            if (prefix.length) {
              const fr = await session.forward(fork, prefix, { region: 'generated', steering: steer, hiddenPositions: zAtPrefix ? [prefix.length - 1] : [] });
              logits = fr.logits;
              if (recordLayers.length && zAtPrefix) hidden.push(recordLayers.map((l) => fr.hidden.slice(l * H, (l + 1) * H)));
            }
            scores = await session.scoreContinuations(fork, logits, rest, steer);
          } finally {
            fork.dispose();
          }
        }
        probs = normalizeLogProbs(scores.map((sc) => sc / (T > 0 ? T : 1)));
        extra.logprobs = scores;
        action = T <= 0 || opts.actionPolicy === 'greedy' ? argmax(probs) : rng.categorical(probs);
        completion = answerCompletion(scenario, actions[action]!);
      } else {
        const promptIds = session.encode(prompt);
        promptTokens = promptIds.length;
        const pr = await cache.extend(promptIds, promptSteer);
        tPrompt = performance.now() - t0;
        Object.assign(extra, { cachedTokens: pr.reused, newTokens: pr.computed });
        if (recordLayers.length) hidden.push(recordLayers.map((l) => pr.hidden.slice(l * H, (l + 1) * H)));
        completions = [];
        const parsed: (number | null)[] = [];
        const M = opts.samples ?? 25;
        const betaChanges: { sample: number; token: number; beta: number }[] = [];
        for (let m = 0; m < M; m++) {
          const fork = cache.kv.fork();
          try {
            let current = steer;
            const g = await session.generateFrom(fork, pr.logits, {
              maxNewTokens: opts.maxThoughtTokens ?? 64,
              temperature: T,
              topP: opts.topP,
              random,
              steering: steer,
              onToken: opts.steering
                ? (_tok, i) => {
                    const next = steeringAt(opts.steering, t, i + 1);
                    if ((next?.vectors[0]?.beta ?? 0) !== (current?.vectors[0]?.beta ?? 0)) {
                      betaChanges.push({ sample: m, token: i + 1, beta: next?.vectors[0]?.beta ?? 0 });
                      current = next;
                    }
                    return next;
                  }
                : undefined,
            });
            completions.push(g.text);
            parsed.push(parseAction(scenario, g.text, env.actions()));
          } finally {
            fork.dispose();
          }
        }
        if (betaChanges.length) extra.betaChanges = betaChanges;
        const counts = new Array<number>(K).fill(0);
        const validIdx: number[] = [];
        parsed.forEach((a, i) => {
          if (a !== null) {
            counts[a]!++;
            validIdx.push(i);
          }
        });
        extra.invalidFraction = (M - validIdx.length) / M;
        if (validIdx.length) {
          probs = counts.map((c) => c / validIdx.length);
          const pick = validIdx[rng.int(validIdx.length)]!;
          action = parsed[pick]!;
          completion = completions[pick]!;
        } else {
          probs = new Array<number>(K).fill(1 / K);
          valid = false;
          completion = completions[0] ?? '';
          action = scenario.onInvalid === 'random-arm' ? rng.int(K) : null;
        }
      }
      const tDecide = performance.now();
      let reward = 0;
      let regret = 0;
      let done = false;
      let observation = '';
      let envFeedback = '';
      if (action !== null) {
        const r = env.step(action);
        reward = r.reward;
        regret = r.regret;
        done = r.done || t + 1 >= horizon;
        observation = r.observation;
        envFeedback = stepFeedback(scenario, actions, action, r);
      } else done = true;
      cumRegret += regret;
      const record: StepRecord = {
        type: 'step',
        runId,
        step: t,
        config,
        promptTokens,
        completion: opts.mode === 'sampled' ? completion : null,
        ...(completions ? { completions } : {}),
        actionProbs: probs,
        entropy: entropy(probs),
        action,
        actionLabel: action === null ? null : actions[action]!.label,
        valid,
        reward,
        regret,
        cumRegret,
        done,
        steering: steer ? { layer: steer.vectors[0]!.layer, beta: steer.vectors[0]!.beta } : null,
        timings: { prompt: tPrompt, decide: tDecide - t0 - tPrompt, total: performance.now() - t0 },
        extra,
      };
      steps.push(record);
      opts.onStep?.(record);
      const turn: Turn = { action, valid, completion, reward, observation, envFeedback };
      history.turns.push(turn);
      if (done) break;
    }
  } finally {
    cache.dispose();
  }
  return { steps, summary: summaryRecordFor(runId, config, steps, K), hidden };
}
