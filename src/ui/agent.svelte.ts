/**
 * The Agent panel's state and actions: game and run settings, the live steering strength, the
 * step records streamed from the worker's episode, and their export. The episode itself runs in
 * the worker (src/agent runEpisode behind ModelClient.runEpisode).
 */
import { formatTrace } from '../trace/jsonl.js';
import { toCsv } from '../trace/csv.js';
import type { StepRecord, SummaryRecord, TraceRecord } from '../trace/schema.js';
import type { EpisodeRequest, LiveSteering } from '../workers/api.js';
import type { ModelClient } from '../workers/client.js';
import { downloadText } from './download.js';
import { actionLabels, gameChoices, gameOptions, type EastPreset } from './games.js';

/** What the agent needs from the page: the loaded model and the selected steering direction. */
export interface AgentHost {
  readonly status: string;
  readonly busy: boolean;
  readonly model: { layers: number } | null;
  readonly layer: number;
  readonly direction: { vector: Float32Array; id: string; label: string } | { problem: string };
}

export type AgentStatus = 'idle' | 'running' | 'stopping' | 'done' | 'stopped' | 'failed';

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err.code ? `${err.code}: ${err.message}` : String(err.message ?? e);
}

export class AgentState {
  readonly games = gameChoices();

  // settings
  env = $state('east-gauss2');
  scenario = $state('east-buttons');
  preset = $state<EastPreset>('equal');
  mode = $state<'exact' | 'sampled'>('exact');
  samples = $state(5);
  maxThoughtTokens = $state(48);
  temperature = $state(1);
  horizon = $state(20);
  seed = $state(1);
  /** Strength of the live steering; moving it during a run changes the next step or token. */
  beta = $state(0);

  // the run
  status = $state<AgentStatus>('idle');
  steps = $state.raw<StepRecord[]>([]);
  summary = $state.raw<SummaryRecord | null>(null);
  error = $state<string | null>(null);
  steeringError = $state<string | null>(null);
  /** Settings of the run on display (labels and K stay with it while the pickers change). */
  shown = $state.raw<{ env: string; scenario: string; labels: string[]; horizon: number; mode: 'exact' | 'sampled' } | null>(null);

  readonly game = $derived(this.games.find((g) => g.id === this.env) ?? this.games[0]!);
  readonly labels = $derived(actionLabels(this.env, gameOptions(this.env, this.preset), this.scenario));
  readonly running = $derived(this.status === 'running' || this.status === 'stopping');
  readonly last = $derived(this.steps.at(-1) ?? null);

  /** The steering the episode should have now: the page's direction at its layer, this strength. */
  readonly live = $derived.by((): LiveSteering | null => {
    const d = this.host.direction;
    if ('problem' in d) return null;
    return { layer: this.host.layer, beta: this.beta, vector: d.vector, vectorId: d.id };
  });

  constructor(
    private readonly client: ModelClient,
    private readonly host: AgentHost,
  ) {
    // Whatever changes the steering while an episode runs (the strength slider, the layer, the
    // vector) goes to the worker at once; the episode reads it before its next step or token.
    $effect.root(() => {
      $effect(() => {
        const live = this.live;
        if (this.running) void this.push(live);
      });
    });
  }

  selectEnv(id: string): void {
    const g = this.games.find((x) => x.id === id);
    if (!g) return;
    this.env = id;
    if (!g.scenarios.some((s) => s.id === this.scenario)) this.scenario = g.scenarios[0]!.id;
    this.horizon = Math.min(g.horizon, 50);
  }

  private async push(live: LiveSteering | null): Promise<void> {
    try {
      await this.client.setSteering(live);
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
      ...(this.mode === 'sampled' ? { samples: this.samples, maxThoughtTokens: this.maxThoughtTokens } : {}),
      temperature: this.temperature,
      horizon: this.horizon,
      seed: this.seed,
      steering: this.live,
    };
  }

  async run(): Promise<void> {
    if (this.running) return;
    const req = this.request();
    this.steps = [];
    this.summary = null;
    this.error = null;
    this.steeringError = null;
    this.shown = { env: req.env, scenario: req.scenario, labels: this.labels, horizon: req.horizon ?? this.game.horizon, mode: req.mode };
    this.status = 'running';
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

  async stop(): Promise<void> {
    if (this.status !== 'running') return;
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
