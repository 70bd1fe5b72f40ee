/**
 * Agent episodes in the worker, steerable while they run. The episode itself is src/agent's
 * runEpisode; this adds what the page needs around it:
 *  - one mutable steering value that setSteering replaces at any time and the episode's
 *    SteeringControl reads before every step and every generated token;
 *  - a stop flag the episode checks between steps;
 *  - a macrotask yield before and after each forward, so the worker's message loop runs between
 *    forwards and a setSteering or stopEpisode call lands during the episode, not after it
 *    (onnxruntime-web's wasm runs can resolve through microtasks alone). The yield after a
 *    forward matters most: the agent reads beta synchronously at the top of a step, so a change
 *    that arrives during a step's last forward is handled before the next step starts.
 */
import type { SteeringControl } from '../agent/agent.js';
import { runEpisode } from '../agent/agent.js';
import { SteerlabError } from '../errors.js';
import { ModelSession } from '../engine/session.js';
import { createEnv } from '../envs/registry.js';
import { getScenario } from '../envs/scenario.js';
import type { StepRecord } from '../trace/schema.js';
import type { EpisodeRequest, EpisodeResponse, LiveSteering } from './api.js';

function bad(message: string): never {
  throw new SteerlabError('BAD_ARGUMENT', message);
}

/** Checks a steering value against the model it will steer (if one is loaded). */
export function checkSteering(s: LiveSteering | null, model: { layers: number; hidden: number } | null): void {
  if (s === null) return;
  if (typeof s !== 'object') bad('steering must be {layer, beta, vector} or null');
  if (!Number.isFinite(s.beta)) bad(`steering strength must be a finite number, got ${s.beta}`);
  if (!(s.vector instanceof Float32Array)) bad('the steering vector must be a Float32Array');
  if (!Number.isInteger(s.layer) || s.layer < 0) bad(`steering layer must be a whole number >= 0, got ${s.layer}`);
  if (model) {
    if (s.layer >= model.layers) bad(`steering layer ${s.layer} is outside 0..${model.layers - 1}`);
    if (s.vector.length !== model.hidden) bad(`the steering vector has ${s.vector.length} entries; this model's hidden size is ${model.hidden}`);
  }
}

function checkRequest(req: EpisodeRequest): void {
  if (req.mode !== 'exact' && req.mode !== 'sampled') bad(`mode must be exact or sampled, got '${String(req.mode)}'`);
  if (!Number.isFinite(req.temperature) || req.temperature < 0) bad(`temperature must be >= 0, got ${req.temperature}`);
  if (!Number.isFinite(req.seed)) bad(`seed must be a number, got ${req.seed}`);
  if (req.horizon !== undefined && (!Number.isInteger(req.horizon) || req.horizon < 1)) bad(`horizon must be a whole number >= 1, got ${req.horizon}`);
  if (req.samples !== undefined && (!Number.isInteger(req.samples) || req.samples < 1 || req.samples > 1000)) bad(`samples must be a whole number in 1..1000, got ${req.samples}`);
  if (req.maxThoughtTokens !== undefined && (!Number.isInteger(req.maxThoughtTokens) || req.maxThoughtTokens < 1 || req.maxThoughtTokens > 4096)) {
    bad(`max thought tokens must be a whole number in 1..4096, got ${req.maxThoughtTokens}`);
  }
}

const channel = new MessageChannel();
const waiting: (() => void)[] = [];
channel.port1.onmessage = () => waiting.shift()?.();

/** Resolves in a new task, after the messages already queued for this worker have been handled. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });
}

/** The same session, except that the worker's message loop runs before and after every forward. */
function yieldingSession(session: ModelSession): ModelSession {
  const s = Object.create(session) as ModelSession;
  s.forward = async (...args) => {
    await nextTask();
    const out = await ModelSession.prototype.forward.apply(s, args);
    await nextTask();
    return out;
  };
  return s;
}

export class EpisodeRunner {
  private live: LiveSteering | null = null;
  private stopRequested = false;
  private running = false;

  /** Replaces the steering in force; a running episode picks it up at its next step or token. */
  setSteering(s: LiveSteering | null, model: { layers: number; hidden: number } | null): void {
    checkSteering(s, model);
    this.live = s ? { layer: s.layer, beta: s.beta, vector: s.vector, vectorId: s.vectorId } : null;
  }

  /** Asks the running episode to stop before its next step; false when none is running. */
  stop(): boolean {
    if (!this.running) return false;
    this.stopRequested = true;
    return true;
  }

  async run(session: ModelSession, req: EpisodeRequest, onStep?: (r: StepRecord) => unknown): Promise<EpisodeResponse> {
    checkRequest(req);
    const steering = req.steering ?? null;
    checkSteering(steering, session.info);
    const env = createEnv(req.env, { ...(req.envOptions ?? {}), ...(req.horizon !== undefined ? { horizon: req.horizon } : {}) });
    const scenario = getScenario(req.scenario);
    if (!scenario.games.includes(env.id)) throw new SteerlabError('BAD_SCENARIO', `scenario '${scenario.id}' is for ${scenario.games.join(', ')}, not ${env.id}`);
    this.setSteering(steering, session.info);
    this.stopRequested = false;
    this.running = true;
    const zero = new Float32Array(session.info.hidden);
    const runner = this;
    // Read fresh at every use: the agent asks for beta first, then layer and vector, synchronously.
    const control: SteeringControl = {
      get id() {
        return runner.live?.vectorId ?? 'live';
      },
      get layer() {
        return runner.live?.layer ?? 0;
      },
      get vector() {
        return runner.live?.vector ?? zero;
      },
      positions: 'generated',
      beta: () => runner.live?.beta ?? 0,
    };
    // Every onStep is a message to the page; the result must not overtake the last of them.
    const delivered: Promise<unknown>[] = [];
    let steps = 0;
    const t0 = performance.now();
    const T = req.temperature;
    try {
      const r = await runEpisode(
        yieldingSession(session),
        env,
        scenario,
        req.seed,
        {
          mode: req.mode,
          samples: req.samples,
          maxThoughtTokens: req.maxThoughtTokens,
          temperature: T,
          horizon: req.horizon,
          steering: control,
          shouldStop: () => this.stopRequested,
          onStep: (record) => {
            steps++;
            if (onStep) delivered.push(Promise.resolve(onStep(record)).catch(() => {}));
          },
        },
        {
          env: env.id,
          scenario: scenario.id,
          policy: `llm-${T > 0 ? 'sample' : 'greedy'}-T${T}`,
          mode: req.mode,
          steering: steering ? { layer: steering.layer, beta: steering.beta, vectorId: steering.vectorId ?? 'live' } : null,
        },
      );
      await Promise.all(delivered);
      const last = r.steps.at(-1);
      return { summary: r.summary, steps: r.steps.length, stopped: this.stopRequested && !last?.done, ms: performance.now() - t0 };
    } catch (e) {
      await Promise.all(delivered);
      // Stopped before the first step: there is nothing to summarise, and nothing went wrong.
      if (this.stopRequested && steps === 0 && e instanceof SteerlabError && e.code === 'BAD_TRACE') return { summary: null, steps: 0, stopped: true, ms: performance.now() - t0 };
      throw e;
    } finally {
      this.running = false;
      this.stopRequested = false;
    }
  }
}
