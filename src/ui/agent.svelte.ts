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
import { actionLabels, gameChoices, gameOptions, type EastPreset } from './games.js';
import type { SteeringState } from './steering.svelte.js';
import { VREASON_DEFAULTS, type VReasonLevel, type VReasonMode, type VReasonSettings } from '../steering/vreason/settings.js';

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
  /** V-Reason: live like the steering (sent with setVReason when it changes during a run). */
  vreason = $state<VReasonUi>({ on: false, level: 'action', mode: VREASON_DEFAULTS.mode, every: VREASON_DEFAULTS.every, steps: VREASON_DEFAULTS.steps, lr: VREASON_DEFAULTS.lr });
  vreasonError = $state<string | null>(null);

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
  readonly labels = $derived(actionLabels(this.env, gameOptions(this.env, this.preset), this.scenario));
  readonly running = $derived(this.status === 'running' || this.status === 'paused' || this.status === 'stopping');
  readonly last = $derived(this.steps.at(-1) ?? null);

  private readonly stopPushing: () => void;

  constructor(
    private readonly client: ModelClient,
    private readonly steering: Pick<SteeringState, 'wire'>,
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
    });
  }

  dispose(): void {
    this.stopPushing();
  }

  selectEnv(id: string): void {
    const g = this.games.find((x) => x.id === id);
    if (!g) return;
    this.env = id;
    if (!g.scenarios.some((s) => s.id === this.scenario)) this.scenario = g.scenarios[0]!.id;
    this.horizon = Math.min(g.horizon, 50);
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
    return {
      env: this.env,
      envOptions: gameOptions(this.env, this.preset),
      scenario: this.scenario,
      mode: this.mode,
      ...(this.mode !== 'exact' ? { samples: this.samples, maxThoughtTokens: this.maxThoughtTokens } : {}),
      temperature: this.temperature,
      minValidMass: this.minValidMass,
      horizon: this.horizon,
      seed: this.seed,
      steering: this.steering.wire,
      vreason: this.vreasonWire(),
    };
  }

  /** Start; with `pauseAfter`, the run holds after that many steps (Step then plays one at a time). */
  async run(pauseAfter?: number): Promise<void> {
    if (this.running) return;
    const req = { ...this.request(), ...(pauseAfter !== undefined ? { pauseAfter } : {}) };
    this.steps = [];
    this.summary = null;
    this.error = null;
    this.steeringError = null;
    this.shown = { env: req.env, scenario: req.scenario, labels: this.labels, horizon: req.horizon ?? this.game.horizon, mode: req.mode };
    this.status = pauseAfter !== undefined ? 'paused' : 'running';
    try {
      const r = await this.client.runEpisode(req, (step) => {
        this.steps = [...this.steps, step];
      });
      this.summary = r.summary;
      this.status = r.stopped ? 'stopped' : 'done';
    } catch (e) {
      this.error = describe(e);
      this.status = 'failed';
    }
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
