/**
 * Agent episodes in the worker, steerable while they run. The episode is src/agent's runEpisode;
 * the worker drives it through the loop's explicit hooks:
 *  - `steering` returns the one live setting, which setSteering replaces at any time;
 *  - `pause` resolves in a new task, so the worker's message loop runs before every step and
 *    every generated token and a setSteering or stopEpisode call lands during the episode, not
 *    after it (onnxruntime-web's wasm runs can resolve through microtasks alone);
 *  - `shouldStop` reads the stop flag.
 */
import { runEpisode } from '../agent/agent.js';
import { BaselinePolicy, POLICY_NAMES, type PolicyName } from '../baselines/run.js';
import { runLoop } from '../episode/loop.js';
import { checkFits } from '../envs/scenario.js';
import { MODES } from '../agent/llm-policy.js';
import { steeringConfigOf } from '../episode/loop.js';
import { SteerlabError } from '../errors.js';
import type { ModelSession } from '../engine/session.js';
import { createEnv } from '../envs/registry.js';
import { getScenario, loadScenario } from '../envs/scenario.js';
import type { SteeringSetting } from '../steering/control-vector.js';
import type { StepRecord } from '../trace/schema.js';
import type { EpisodeRequest, EpisodeResponse, SteeringWire } from './api.js';
import { settingFromWire } from './steering.js';
import { checkVReason, type VReasonSettings } from '../steering/vreason/settings.js';
import { autopilotStep, checkAutopilot, type AutopilotSettings, type AutopilotState } from '../steering/autopilot.js';

function bad(message: string): never {
  throw new SteerlabError('BAD_ARGUMENT', message);
}

function checkRequest(req: EpisodeRequest): void {
  if (req.policy !== undefined && req.policy !== 'llm' && !(POLICY_NAMES as readonly string[]).includes(req.policy)) {
    bad(`policy must be llm or one of ${POLICY_NAMES.join(', ')}, got '${String(req.policy)}'`);
  }
  if (!MODES.includes(req.mode)) bad(`mode must be ${MODES.join(' or ')}, got '${String(req.mode)}'`);
  if (!Number.isFinite(req.temperature) || req.temperature < 0) bad(`temperature must be >= 0, got ${req.temperature}`);
  if (!Number.isFinite(req.seed)) bad(`seed must be a number, got ${req.seed}`);
  if (req.minValidMass !== undefined && !(req.minValidMass >= 0 && req.minValidMass <= 1)) bad(`min valid mass must be a number in 0..1, got ${req.minValidMass}`);
  if (req.pauseAfter !== undefined && (!Number.isInteger(req.pauseAfter) || req.pauseAfter < 0)) bad(`pause after must be a whole number of steps >= 0, got ${req.pauseAfter}`);
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

export class EpisodeRunner {
  private live: SteeringSetting | null = null;
  private pilot: AutopilotSettings | null = null;
  private pilotState: AutopilotState = { beta: 0, integral: 0 };

  /** Switches the autopilot on (from the β in force now) or off (β stays where the autopilot left it). */
  setAutopilot(s: (Partial<AutopilotSettings> & { target: number }) | null): void {
    const next = s ? checkAutopilot(s) : null;
    if (next && !this.pilot) this.pilotState = { beta: this.live?.beta ?? 0, integral: 0 };
    this.pilot = next;
  }

  /** After a step: the autopilot's β for the next one (record.steering is the β this step had). */
  private steer(record: StepRecord): void {
    if (!this.pilot || !this.live) return;
    this.pilotState = autopilotStep(this.pilot, this.pilotState, record.valid && !record.formatBroken ? record.entropy : null);
    this.live = { ...this.live, beta: this.pilotState.beta };
  }
  private liveVr: VReasonSettings | null = null;

  /** Replaces V-Reason's settings; a running episode uses them from its next step. */
  setVReason(s: Partial<VReasonSettings> | null): void {
    this.liveVr = s ? checkVReason(s) : null;
  }
  private stopRequested = false;
  private running = false;
  /** Pause/Step: while paused, the episode waits at its next step (or token) unless a Step allowed one more step. */
  private paused = false;
  private stepsDone = 0;
  private allowedSteps = 0;
  private wake: (() => void) | null = null;

  /** Pauses the running episode before its next step; false when none is running. */
  pause(): boolean {
    if (!this.running) return false;
    this.paused = true;
    this.allowedSteps = this.stepsDone;
    return true;
  }

  /** Resumes a paused episode. */
  resume(): boolean {
    if (!this.running) return false;
    this.paused = false;
    this.release();
    return true;
  }

  /** Lets a paused episode play exactly one more step, then pause again. */
  step(): boolean {
    if (!this.running) return false;
    this.paused = true;
    this.allowedSteps = this.stepsDone + 1;
    this.release();
    return true;
  }

  get state(): { running: boolean; paused: boolean; steps: number } {
    return { running: this.running, paused: this.paused, steps: this.stepsDone };
  }

  private release(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Awaited before every step and generated token: yields to the message loop, and holds while paused. */
  private readonly gate = async (): Promise<void> => {
    await nextTask();
    while (this.paused && this.stepsDone >= this.allowedSteps && !this.stopRequested) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  };

  /** Replaces the steering in force; a running episode picks it up at its next step or token. */
  setSteering(s: SteeringWire | null, model: { layers: number; hidden: number } | null): void {
    const next = settingFromWire(s, model);
    // Under the autopilot the page may change the vector, layer or positions; β stays the autopilot's.
    this.live = next && this.pilot ? { ...next, beta: this.pilotState.beta } : next;
  }

  /** Asks the running episode to stop before its next step; false when none is running. */
  stop(): boolean {
    if (!this.running) return false;
    this.stopRequested = true;
    this.release();
    return true;
  }

  /** Plays one episode: the model (`session`; null is refused) or, with req.policy, a baseline that needs none. */
  async run(session: ModelSession | null, req: EpisodeRequest, onStep?: (r: StepRecord) => unknown): Promise<EpisodeResponse> {
    checkRequest(req);
    const baseline = req.policy !== undefined && req.policy !== 'llm';
    if (!session && !baseline) throw new SteerlabError('BAD_ARGUMENT', 'no model is loaded');
    const start = baseline ? null : settingFromWire(req.steering ?? null, session!.info);
    const env = createEnv(req.env, { ...(req.envOptions ?? {}), ...(req.horizon !== undefined ? { horizon: req.horizon } : {}) });
    const scenario = typeof req.scenario === 'string' ? getScenario(req.scenario) : loadScenario(req.scenario);
    this.live = start;
    this.liveVr = req.vreason ? checkVReason(req.vreason) : null;
    this.pilot = null;
    if (req.autopilot) {
      if (!start) throw new SteerlabError('BAD_ARGUMENT', 'the autopilot sets the strength of a steering vector: choose one first');
      this.setAutopilot(req.autopilot);
    }
    this.stopRequested = false;
    this.running = true;
    this.stepsDone = 0;
    this.paused = req.pauseAfter !== undefined;
    this.allowedSteps = req.pauseAfter ?? 0;
    // Every onStep is a message to the page; the result must not overtake the last of them.
    const delivered: Promise<unknown>[] = [];
    const t0 = performance.now();
    try {
      const hooks = {
        pause: this.gate,
        shouldStop: () => this.stopRequested,
        onStep: (record: StepRecord) => {
          this.stepsDone++;
          this.steer(record);
          if (onStep) delivered.push(Promise.resolve(onStep(record)).catch(() => {}));
        },
      };
      if (baseline) checkFits(scenario, env);
      const r = baseline
        ? await runLoop(env, new BaselinePolicy(req.policy as PolicyName), { seed: req.seed, scenario, horizon: req.horizon, hooks })
        : await runEpisode(session!, env, scenario, req.seed, {
        mode: req.mode,
        samples: req.samples,
        maxThoughtTokens: req.maxThoughtTokens,
        temperature: req.temperature,
        minValidMass: req.minValidMass,
        horizon: req.horizon,
        steering: () => this.live,
        vreason: () => this.liveVr,
        // A live run names the vector it starts from even at beta 0: the slider may move later.
        steeringConfig: steeringConfigOf(start, true),
        ...hooks,
      });
      await Promise.all(delivered);
      const last = r.steps.at(-1);
      return { summary: r.steps.length ? r.summary : null, steps: r.steps.length, stopped: this.stopRequested && !last?.done, ms: performance.now() - t0 };
    } finally {
      await Promise.all(delivered);
      this.running = false;
      this.stopRequested = false;
      this.paused = false;
      this.release();
    }
  }
}
