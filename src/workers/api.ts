/**
 * The one API between the page and the model worker, shared by both sides.
 *
 * Comlink serialises thrown Errors as bare {name, message}, which would lose SteerlabError's
 * code. So the worker never throws across the boundary: every method resolves to a Wire<T>,
 * and the page-side client (client.ts) rethrows failures as SteerlabError with the same code.
 */
import type { VReasonSettings } from '../steering/vreason/settings.js';
import type { VReasonRecord } from '../steering/vreason/run.js';
import { SteerlabError, type ErrorCode } from '../errors.js';
import type { Positions } from '../engine/hook-points.js';
import type { ModelInfo } from '../engine/session.js';
import type { ControlVectorData } from '../steering/control-vector.js';
import type { StepRecord, SummaryRecord } from '../trace/schema.js';
import type { PolicyName } from '../baselines/run.js';
import type { Scenario } from '../envs/scenario.js';
import type { AutopilotSettings } from '../steering/autopilot.js';

export type WebDevice = 'webgpu' | 'wasm';

/** 'cache': reading the model from the worker's IndexedDB cache instead of downloading it. */
export type LoadPhase = 'cache' | 'download' | 'parse' | 'convert' | 'session';

export interface LoadProgress {
  phase: LoadPhase;
  /** Progress within this phase, 0..1 (NaN when the total is unknown, e.g. no Content-Length). */
  fraction: number;
  /** Bytes so far and in total, for the download phase. */
  loaded?: number;
  total?: number;
}

export interface LoadRequest {
  /** Where to fetch a .gguf from (same origin), e.g. DEFAULT_MODEL_URL. */
  url?: string;
  /** A model in transformers.js layout on the hub (or a mirror at `base`); used when neither url nor file is given. */
  hub?: { id: string; dtype?: string; base?: string };
  /** A local .gguf chosen by the user; wins over url. */
  file?: File;
  /** Preferred device; the worker falls back to the other one and says why in fallbackReason. */
  device?: WebDevice;
  /**
   * Caps what the model cache will store (bytes). A model larger than this is refused the way a
   * full disk refuses it (a QuotaExceededError from the put), so tests can exercise that path.
   */
  maxCacheBytes?: number;
  /** At most this many wasm threads (the benchmark's 1-thread run); only the worker's first load decides. */
  threads?: number;
  /**
   * Where a GGUF's lm_head runs (OpenGgufOptions.lmHead): on wasm an 8-bit one runs in the 8-bit
   * kernel by default; 'graph' keeps it in the graph as a float32 copy (the benchmark's comparison).
   */
  lmHead?: 'kernel' | 'graph';
}

export interface LoadTimings {
  downloadMs: number;
  parseMs: number;
  convertMs: number;
  sessionMs: number;
}

/**
 * What happened in the model cache (IndexedDB, keyed by the absolute URL) on a load:
 * 'reused': read from the cache, no request made; 'stored': downloaded and now cached;
 * 'not-stored': downloaded and not cached (storageProblem says why), or a local File (never cached).
 */
export type ModelStorage = 'reused' | 'stored' | 'not-stored';

export interface LoadedModel extends ModelInfo {
  /** Bytes of the GGUF file. */
  size: number;
  /** downloadMs is the time to get the bytes: the download, or the cache read when reused. */
  timings: LoadTimings;
  storage: ModelStorage;
  /** wasm threads onnxruntime runs on (null on WebGPU). */
  threads: number | null;
  /** One line: why a downloaded model was not cached (e.g. browser storage is full). */
  storageProblem?: string;
  /** One line: a cached copy was unusable (wrong size, unreadable, not a GGUF), deleted and downloaded again. */
  cacheNote?: string;
}

/** One model in the cache, without its bytes. */
export interface CachedModelInfo {
  url: string;
  size: number;
  etag: string | null;
  lastModified: string | null;
  /** When it was stored, ms since the epoch. */
  storedAt: number;
}

/**
 * Steering as it crosses the worker boundary, the same for free generation and for episodes: a
 * ControlVector's plain data (one or many layers), its strength, and the positions it is added at
 * (hook-points.ts: 'generated' = the model's own tokens, as the CLI's default).
 */
export interface SteeringWire {
  vector: ControlVectorData;
  beta: number;
  positions: Positions;
}

export interface GenerateRequest {
  prompt: string;
  /** Wrap the prompt in the model's chat template as one user message. */
  chat: boolean;
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  seed: number;
  steering?: SteeringWire | null;
  /** Token-level V-Reason on the prompt's rows (null/absent: off); partial settings take the defaults. */
  vreason?: Partial<VReasonSettings> | null;
}

export interface TokenOut {
  id: number;
  /** What this token adds to the decoded text (empty while it holds part of a character). */
  text: string;
  logprob: number;
  /** Entropy (nats) of the distribution it was drawn from. */
  entropy: number;
}

export interface GenerateResponse {
  text: string;
  ids: number[];
  tokens: TokenOut[];
  promptTokens: number;
  stoppedBy: 'stop' | 'length';
  ms: number;
  /** Per generated token, when V-Reason ran: entropy, EMA, peak, alpha, loss, ||dV||, steps. */
  vreason?: VReasonRecord[];
}

export interface EpisodeRequest {
  /** A game id from listEnvs(). */
  env: string;
  /** Game options (createEnv), e.g. { preset: '95-105' } for east-gauss2; horizon goes below. */
  envOptions?: Record<string, unknown>;
  /** A built-in scenario id that lists this game, or a scenario itself (imported on the page; validated here again). */
  scenario: string | Scenario;
  /**
   * Who plays: the loaded model ('llm', the default) or a baseline policy (src/baselines: random,
   * greedy, eps-greedy, ucb, ts, optimal), which needs no model and ignores mode and steering.
   */
  policy?: 'llm' | PolicyName;
  mode: 'exact' | 'sampled' | 'thought';
  /** Sampled mode: completions per step (default 25). */
  samples?: number;
  /** Sampled mode: most tokens per completion (default 64). */
  maxThoughtTokens?: number;
  /** Of the completions (sampled) or of the action distribution (exact); 0 = greedy. */
  temperature: number;
  /** Exact and thought modes: a step whose valid answers hold less probability is format-broken (default 0.05). */
  minValidMass?: number;
  /** Steps (default: the game's horizon). */
  horizon?: number;
  seed: number;
  /** Steering in force at the start (null: none until setSteering). */
  steering?: SteeringWire | null;
  /** V-Reason in force at the start (null: off until setVReason); partial settings take the defaults. */
  vreason?: Partial<VReasonSettings> | null;
  /**
   * The entropy autopilot (src/steering/autopilot.ts) in force at the start: after every step the
   * worker sets the next step's β from this step's entropy (no round trip, so no lag); needs steering.
   */
  autopilot?: Partial<AutopilotSettings> & { target: number } | null;
  /** Hold after this many steps (0: start held) until resumeEpisode or stepEpisode; absent: run through. */
  pauseAfter?: number;
}

export interface EpisodeResponse {
  /** The run's summary line; null when it was stopped before its first step. */
  summary: SummaryRecord | null;
  steps: number;
  /** True when stopEpisode ended it before the game or the horizon did. */
  stopped: boolean;
  ms: number;
}

/** EAST from stored runs: each replayed unsteered with its own settings (exact mode), residuals at `layer`. */
export interface EastRequest {
  runs: EpisodeRequest[];
  layer: number;
}

export interface EastResult {
  vector: ControlVectorData;
  /** The same vector with its entries shuffled: the control at the same norm. */
  shuffled: ControlVectorData;
  /** Valid steps the vector was computed from. */
  steps: number;
}

/** What the page calls. Every method may reject with a SteerlabError (code + message). */
export interface ModelApi {
  loadModel(req: LoadRequest, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel>;
  generate(req: GenerateRequest): Promise<GenerateResponse>;
  /** Which devices this browser offers the worker, and why WebGPU is missing if it is. */
  devices(): Promise<{ devices: string[]; webgpuProblem: string | null }>;
  /**
   * Plays one episode with the loaded model (src/agent runEpisode), calling onStep with each
   * step's trace record as it is made; resolves once every onStep call has been delivered.
   */
  runEpisode(req: EpisodeRequest, onStep?: (record: StepRecord) => void): Promise<EpisodeResponse>;
  /**
   * Replaces the steering of the running episode (and of the next one, until runEpisode sets
   * its own); null = no steering. Answered at once, not queued behind the running episode.
   */
  setSteering(steering: SteeringWire | null): Promise<void>;
  /** Replaces the autopilot of the running episode (null = off: β stays where it is). Not queued. */
  setAutopilot(settings: (Partial<AutopilotSettings> & { target: number }) | null): Promise<void>;
  /** Replaces V-Reason's settings for the running episode's next steps (null = off). Not queued. */
  setVReason(settings: Partial<VReasonSettings> | null): Promise<void>;
  /** Asks the running episode to stop before its next step; false when none is running. Not queued. */
  stopEpisode(): Promise<boolean>;
  /** Pause holds the running episode before its next step, Resume lets it go on, Step plays one step and holds again. False when none is running. Not queued. */
  pauseEpisode(): Promise<boolean>;
  resumeEpisode(): Promise<boolean>;
  stepEpisode(): Promise<boolean>;
  /** Each block's typical residual norm (hook_resid_post) on a short prompt, for the layer picker. */
  residualNorms(): Promise<number[]>;
  /** An EAST vector and its shuffled control from stored runs (see lab-ops.ts). */
  eastVector(req: EastRequest): Promise<EastResult>;
  /** Models in the IndexedDB cache. Not queued. */
  cachedModels(): Promise<CachedModelInfo[]>;
  /** Removes one model from the cache. Not queued. */
  deleteCachedModel(url: string): Promise<void>;
  /** Empties the model cache; resolves to how many models were removed. Not queued. */
  clearModelCache(): Promise<{ removed: number }>;
  dispose(): Promise<void>;
}

export interface WireError {
  code: ErrorCode | 'INTERNAL';
  message: string;
}

export type Wire<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** What the worker exposes through comlink: ModelApi with every result wrapped in a Wire. */
export type WorkerEndpointApi = {
  [K in keyof ModelApi]: (...args: Parameters<ModelApi[K]>) => Promise<Wire<Awaited<ReturnType<ModelApi[K]>>>>;
};

export function toWireError(e: unknown): WireError {
  if (e instanceof SteerlabError) return { code: e.code, message: e.message };
  const err = e instanceof Error ? e : new Error(String(e));
  return { code: 'INTERNAL', message: `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` };
}

/** Errors that did not come from the engine's typed errors: a bug or a browser failure. */
export class WorkerInternalError extends Error {
  readonly code = 'INTERNAL' as const;
  constructor(message: string) {
    super(message);
    this.name = 'WorkerInternalError';
  }
}

export function fromWire<T>(w: Wire<T>): T {
  if (w.ok) return w.value;
  if (w.error.code === 'INTERNAL') throw new WorkerInternalError(w.error.message);
  throw new SteerlabError(w.error.code, w.error.message);
}

/** The default model as the dev/preview server serves it (see vite.config.ts). */
export const DEFAULT_MODEL_URL = '/models/default.gguf';
