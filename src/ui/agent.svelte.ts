/**
 * The Agent panel's state: game and run settings, the step records streamed from the worker's
 * episode, run/stop, and their export. The episode runs in the worker (src/agent runEpisode
 * behind ModelClient.runEpisode), steered by the page's one steering control: whatever changes it
 * during a run (strength, layer, vector, positions) is sent with setSteering at once, and the
 * episode uses it from its next step or token.
 */
import { formatTrace } from '../trace/jsonl.js';
import { toCsv } from '../trace/csv.js';
import type { StepRecord, SummaryRecord, TraceRecord } from '../trace/schema.js';
import type { EpisodeRequest, SteeringWire } from '../workers/api.js';
import type { ModelClient } from '../workers/client.js';
import { describe } from './describe.js';
import { downloadText } from './download.js';
import { actionLabels, gameChoices, gameOptions, importScenario, type EastPreset } from './games.js';
import type { Scenario } from '../envs/scenario.js';
import type { SteeringState } from './steering.svelte.js';
import { VREASON_DEFAULTS, type VReasonLevel, type VReasonMode, type VReasonSettings } from '../steering/vreason/settings.js';
import type { PolicyName } from '../baselines/run.js';
import type { AutopilotSettings } from '../steering/autopilot.js';
import { invalidAlarm } from './alarm.js';
import type { RunRecorder } from './runs.svelte.js';
import { parseSeedQueue } from './seeds.js';
import type { LabSetup } from './setup.js';
import type { StoredRun, StoredStatus } from './store/db.js';

export type Player = 'llm' | PolicyName;

/** Optional parts of one run: what differs from the panel's settings, and how it is kept. */
export interface RunOptions {
  pauseAfter?: number;
  seed?: number;
  /** null: this run is unsteered whatever the panel says. */
  steering?: null;
  policy?: Player;
  compare?: StoredRun['compare'];
  forkOf?: StoredRun['forkOf'];
  name?: string;
}

export type AgentStatus = 'idle' | 'running' | 'paused' | 'stopping' | 'done' | 'stopped' | 'failed';

/** V-Reason as the page sets it: on/off plus the settings a user tunes (the rest take the defaults). */
export interface VReasonUi {
  on: boolean;
  level: VReasonLevel;
  mode: VReasonMode;
  every: number;
  steps: number;
  lr: number;
}

export class AgentState {
  readonly games = gameChoices();

  // settings
  env = $state('east-gauss2');
  scenario = $state('east-buttons');
  preset = $state<EastPreset>('equal');
  mode = $state<'exact' | 'sampled' | 'thought'>('exact');
  samples = $state(5);
  maxThoughtTokens = $state(48);
  temperature = $state(1);
  /** Exact and thought modes: steps whose valid answers hold less probability than this are format-broken. */
  minValidMass = $state(0.05);
  horizon = $state(20);
  seed = $state(1);
  /** Who plays: the model, or a baseline policy. */
  policy = $state<Player>('llm');
  /** Seeds to run one after another ("1-5", "1,3,7"); empty: just `seed`. */
  queue = $state('');
  /** Compare: what runs beside the steered model ('unsteered', or a baseline's name). */
  compareAgainst = $state<'unsteered' | PolicyName>('unsteered');
  /** The finished side A of the comparison running now (B is the live run). */
  compareA = $state.raw<{ label: string; steps: StepRecord[]; summary: SummaryRecord | null } | null>(null);
  compareLabelB = $state<string | null>(null);
  /** Where the queue or comparison is: "seed 3 of 5" / "A: unsteered". */
  batch = $state<string | null>(null);
  /** One line when the link's setup could not be used. */
  linkProblem = $state<string | null>(null);
  /** The stored run on display (null when not kept). */
  runId = $state<string | null>(null);
  /** V-Reason: live like the steering (sent with setVReason when it changes during a run). */
  vreason = $state<VReasonUi>({ on: false, level: 'action', mode: VREASON_DEFAULTS.mode, every: VREASON_DEFAULTS.every, steps: VREASON_DEFAULTS.steps, lr: VREASON_DEFAULTS.lr });
  vreasonError = $state<string | null>(null);
  /**
   * The entropy autopilot (a PI controller, src/steering/autopilot.ts): the worker sets β after
   * every step to move the action entropy toward `target`; live like the steering. `max` bounds |β|.
   */
  autopilot = $state({ on: false, target: 0.5, kp: 20, ki: 5, max: 100, backoff: 0.5 });

  // the run
  status = $state<AgentStatus>('idle');
  steps = $state.raw<StepRecord[]>([]);
  summary = $state.raw<SummaryRecord | null>(null);
  error = $state<string | null>(null);
  /** Why the last live steering change was refused by the worker. */
  steeringError = $state<string | null>(null);
  /** Settings of the run on display (labels and K stay with it while the pickers change). */
  shown = $state.raw<{ env: string; scenario: string; labels: string[]; horizon: number; mode: 'exact' | 'sampled' | 'thought' } | null>(null);

  readonly game = $derived(this.games.find((g) => g.id === this.env) ?? this.games[0]!);
  /** Scenarios the user imported or edited (kept in IndexedDB by the page). */
  customScenarios = $state.raw<Scenario[]>([]);
  scenarioError = $state<string | null>(null);
  /** Where an imported scenario is kept (set by the page: IndexedDB). */
  saveScenario: ((s: Scenario) => void) | null = null;
  /** The chosen scenario when it is a custom one (null: a built-in, by id). */
  readonly customScenario = $derived(this.customScenarios.find((s) => s.id === this.scenario) ?? null);
  readonly labels = $derived(actionLabels(this.env, gameOptions(this.env, this.preset), this.customScenario ?? this.scenario));
  /** Built-in and custom scenarios that list the chosen game. */
  readonly scenarioChoices = $derived([
    ...this.game.scenarios,
    ...this.customScenarios.filter((s) => s.games.includes(this.env)).map((s) => ({ id: s.id, title: `${s.title} (imported)` })),
  ]);
  readonly running = $derived(this.status === 'running' || this.status === 'paused' || this.status === 'stopping');
  readonly last = $derived(this.steps.at(-1) ?? null);
  /** One line when the invalid-answer rate jumps (see alarm.ts). */
  readonly alarm = $derived(invalidAlarm(this.steps));
  private stopAll = false;

  private readonly stopPushing: () => void;

  constructor(
    private readonly client: ModelClient,
    private readonly steering: Pick<SteeringState, 'wire' | 'beta'> & { readonly current: { caption: string } | { problem: string } },
    private readonly recorder: RunRecorder | null = null,
    private readonly setupOf: () => LabSetup = () => {
      throw new Error('no setup source');
    },
  ) {
    this.stopPushing = $effect.root(() => {
      $effect(() => {
        const wire = this.steering.wire;
        if (this.running) void this.push(wire);
      });
      $effect(() => {
        const v = this.vreasonWire();
        if (this.running) void this.pushVReason(v);
      });
      $effect(() => {
        const a = this.autopilotWire();
        if (this.running) void this.call(() => this.client.setAutopilot(a));
      });
    });
  }

  dispose(): void {
    this.stopPushing();
  }

  selectEnv(id: string): void {
    const g = this.games.find((x) => x.id === id);
    if (!g) return;
    this.env = id;
    if (!g.scenarios.some((s) => s.id === this.scenario) && !this.customScenarios.some((s) => s.id === this.scenario && s.games.includes(id))) this.scenario = g.scenarios[0]!.id;
    this.horizon = Math.min(g.horizon, 50);
  }

  /**
   * Imports (or replaces, after an edit) a scenario from JSON text: validated and checked against
   * the chosen game; on success it is chosen. Returns it, or null with the one-line reason in scenarioError.
   */
  addScenario(text: string): Scenario | null {
    try {
      const s = importScenario(text, this.env, gameOptions(this.env, this.preset));
      this.customScenarios = [...this.customScenarios.filter((x) => x.id !== s.id), s];
      this.scenario = s.id;
      this.scenarioError = null;
      this.saveScenario?.(s);
      return s;
    } catch (e) {
      this.scenarioError = describe(e);
      return null;
    }
  }

  /** The autopilot as the worker takes it; null when off or when no vector is chosen. */
  autopilotWire(): (Partial<AutopilotSettings> & { target: number }) | null {
    const a = this.autopilot;
    if (!a.on || this.policy !== 'llm') return null;
    return { target: a.target, kp: a.kp, ki: a.ki, min: -Math.abs(a.max), max: Math.abs(a.max), backoff: a.backoff };
  }

  /** The settings as the worker takes them; null when off. */
  vreasonWire(): Partial<VReasonSettings> | null {
    const v = this.vreason;
    if (!v.on) return null;
    // Token level needs generated text: in exact mode only the action level applies.
    const level = this.mode === 'exact' ? 'action' : this.mode === 'sampled' ? 'token' : v.level;
    return { level, mode: v.mode, every: v.every, steps: v.steps, lr: v.lr };
  }

  private async pushVReason(v: Partial<VReasonSettings> | null): Promise<void> {
    try {
      await this.client.setVReason(v);
      this.vreasonError = null;
    } catch (e) {
      this.vreasonError = describe(e);
    }
  }

  private async push(wire: SteeringWire | null): Promise<void> {
    try {
      await this.client.setSteering(wire);
      this.steeringError = null;
    } catch (e) {
      this.steeringError = describe(e);
    }
  }

  request(): EpisodeRequest {
    const baseline = this.policy !== 'llm';
    return {
      ...(baseline ? { policy: this.policy } : {}),
      env: this.env,
      envOptions: gameOptions(this.env, this.preset),
      scenario: this.customScenario ?? this.scenario,
      mode: this.mode,
      ...(this.mode !== 'exact' ? { samples: this.samples, maxThoughtTokens: this.maxThoughtTokens } : {}),
      temperature: this.temperature,
      minValidMass: this.minValidMass,
      horizon: this.horizon,
      seed: this.seed,
      steering: baseline ? null : this.steering.wire,
      vreason: baseline ? null : this.vreasonWire(),
      autopilot: baseline || !this.steering.wire ? null : this.autopilotWire(),
    };
  }

  /** Start: the queue's seeds one after another, or one run; with `pauseAfter`, the run holds after that many steps (Step then plays one at a time). */
  async run(pauseAfter?: number): Promise<void> {
    if (this.running) return;
    let seeds: number[];
    try {
      seeds = this.queue.trim() ? parseSeedQueue(this.queue) : [this.seed];
    } catch (e) {
      this.error = describe(e);
      return;
    }
    this.compareA = null;
    this.stopAll = false;
    for (const [i, seed] of seeds.entries()) {
      if (this.stopAll) break;
      this.batch = seeds.length > 1 ? `seed ${seed} (${i + 1} of ${seeds.length})` : null;
      const status = await this.runOne({ seed, ...(pauseAfter !== undefined && i === 0 ? { pauseAfter } : {}) });
      if (status !== 'done') break;
    }
    this.batch = null;
  }

  /**
   * Compare: the same seed played twice, A unsteered (or by a baseline) and B with the panel's
   * steering, kept as a pair; A stays on the chart while B runs.
   */
  async compare(): Promise<string | null> {
    if (this.running) return null;
    const group = `cmp-${Date.now().toString(36)}`;
    const against = this.compareAgainst;
    const labelA = against === 'unsteered' ? 'A: unsteered' : `A: ${against}`;
    const caption = 'caption' in this.steering.current ? this.steering.current.caption : 'no steering';
    this.stopAll = false;
    this.compareA = null;
    this.compareLabelB = null;
    this.batch = labelA;
    const a = await this.runOne(against === 'unsteered' ? { steering: null, compare: { group, side: 'A' }, name: labelA } : { policy: against, compare: { group, side: 'A' }, name: labelA });
    if (a !== 'done' || this.stopAll) {
      this.batch = null;
      return null;
    }
    this.compareA = { label: labelA, steps: this.steps, summary: this.summary };
    const labelB = `B: ${this.policy === 'llm' ? `LLM, ${caption}` : this.policy}`;
    this.compareLabelB = labelB;
    this.batch = labelB;
    const b = await this.runOne({ compare: { group, side: 'B' }, name: labelB });
    this.batch = null;
    return b === 'done' || b === 'stopped' ? group : null;
  }

  /** Fork: the stored run's setup from its start to step `at`, then held, so new settings apply from step `at` on (Resume or Step). */
  async fork(from: StoredRun, at: number, apply: (s: LabSetup) => void): Promise<void> {
    if (this.running) return;
    apply(from.setup);
    this.queue = '';
    await this.runOne({ pauseAfter: at, forkOf: { run: from.id, step: at }, name: `${from.name} · fork at ${at}` });
  }

  /** One episode: streamed into view and written step by step through the recorder. */
  private async runOne(o: RunOptions): Promise<AgentStatus> {
    const base = this.request();
    const policy = o.policy ?? this.policy;
    const req: EpisodeRequest = {
      ...base,
      seed: o.seed ?? base.seed,
      ...(o.steering === null ? { steering: null, vreason: null, autopilot: null } : {}),
      ...(o.policy && o.policy !== 'llm' ? { policy: o.policy, steering: null, vreason: null, autopilot: null } : {}),
      ...(o.pauseAfter !== undefined ? { pauseAfter: o.pauseAfter } : {}),
    };
    this.steps = [];
    this.summary = null;
    this.error = null;
    this.steeringError = null;
    this.runId = null;
    this.shown = { env: req.env, scenario: this.scenario, labels: this.labels, horizon: req.horizon ?? this.game.horizon, mode: req.mode };
    this.status = o.pauseAfter !== undefined ? 'paused' : 'running';
    const unsteered = o.steering === null || policy !== 'llm' || !req.steering;
    let stored: StoredRun | null = null;
    try {
      const setup = { ...this.setupOf(), seed: req.seed, policy };
      stored = this.recorder
        ? await this.recorder.start({
            name: o.name ?? `${req.env} · ${policy === 'llm' ? req.mode : policy} · seed ${req.seed}`,
            setup,
            steering: unsteered ? 'none' : 'caption' in this.steering.current ? this.steering.current.caption : 'none',
            ...(o.compare ? { compare: o.compare } : {}),
            ...(o.forkOf ? { forkOf: o.forkOf } : {}),
          })
        : null;
    } catch (e) {
      this.error = describe(e);
    }
    this.runId = stored?.id ?? null;
    let end: StoredStatus = 'failed';
    let message: string | undefined;
    try {
      const r = await this.client.runEpisode(req, (step) => {
        this.steps = [...this.steps, step];
        // Under the autopilot the slider follows the β the worker used.
        if (req.autopilot && this.autopilot.on && step.steering) this.steering.beta = step.steering.beta;
        if (stored) this.recorder!.step(stored.id, step);
      });
      this.summary = r.summary;
      this.status = r.stopped ? 'stopped' : 'done';
      end = r.stopped ? 'stopped' : 'done';
    } catch (e) {
      this.error = message = describe(e);
      this.status = 'failed';
      end = (e as { code?: string }).code === 'WORKER_CRASHED' ? 'interrupted' : 'failed';
    }
    if (stored) await this.recorder!.end(stored.id, end, this.summary, message);
    return this.status;
  }

  async pause(): Promise<void> {
    if (this.status !== 'running') return;
    this.status = 'paused';
    await this.call(() => this.client.pauseEpisode());
  }

  async resume(): Promise<void> {
    if (this.status !== 'paused') return;
    this.status = 'running';
    await this.call(() => this.client.resumeEpisode());
  }

  /** One step: from a paused run, or a new run started paused. */
  async step(): Promise<void> {
    if (this.status === 'paused' || this.status === 'running') {
      this.status = 'paused';
      await this.call(() => this.client.stepEpisode());
      return;
    }
    if (this.running) return;
    await this.run(1);
  }

  /** Clears the finished run from view (not while one runs). */
  reset(): void {
    if (this.running) return;
    this.steps = [];
    this.summary = null;
    this.shown = null;
    this.error = null;
    this.compareA = null;
    this.compareLabelB = null;
    this.runId = null;
    this.status = 'idle';
  }

  private async call(f: () => Promise<unknown>): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.error = describe(e);
    }
  }

  async stop(): Promise<void> {
    if (this.status !== 'running' && this.status !== 'paused') return;
    this.stopAll = true;
    this.status = 'stopping';
    try {
      await this.client.stopEpisode();
    } catch (e) {
      this.error = describe(e);
    }
  }

  /** The run so far as trace records: every step, and the summary once the run has ended. */
  records(): TraceRecord[] {
    return this.summary ? [...this.steps, this.summary] : [...this.steps];
  }

  private fileStem(): string {
    const s = this.steps[0];
    return s ? `steerlab-${s.config.env}-${s.config.scenario}-seed${s.config.seed}` : 'steerlab-trace';
  }

  exportJsonl(): void {
    this.exportWith(() => downloadText(`${this.fileStem()}.jsonl`, formatTrace(this.records()), 'application/x-ndjson'));
  }

  exportCsv(): void {
    this.exportWith(() => downloadText(`${this.fileStem()}.csv`, toCsv(this.records()), 'text/csv'));
  }

  private exportWith(save: () => void): void {
    try {
      save();
    } catch (e) {
      this.error = describe(e);
    }
  }
}
