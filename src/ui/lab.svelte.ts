/**
 * The page's state and actions, shared by the components. Components render this and call its
 * methods; all model work happens in the worker behind ModelClient.
 */
import { DEFAULT_MODEL_URL, type CachedModelInfo, type GenerateResponse, type LoadedModel, type LoadProgress, type WebDevice } from '../workers/api.js';
import type { ModelClient } from '../workers/client.js';
import { AgentState } from './agent.svelte.js';
import { parseVectorJson, randomUnitVector, vectorProblem, type VectorFile } from './vectors.js';

export type DeviceChoice = 'auto' | WebDevice;

export interface GenerationPair {
  plain: GenerateResponse;
  steered: GenerateResponse;
  /** What the steered run used, for the caption. */
  layer: number;
  beta: number;
  source: string;
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err.code ? `${err.code}: ${err.message}` : String(err.message ?? e);
}

export class Lab {
  // model
  status = $state<'idle' | 'loading' | 'ready' | 'failed'>('idle');
  progress = $state.raw<LoadProgress | null>(null);
  model = $state.raw<LoadedModel | null>(null);
  loadError = $state<string | null>(null);
  device = $state<DeviceChoice>('auto');
  source = $state<string>(DEFAULT_MODEL_URL);
  /** The loaded model came from a local File (never cached). */
  fromFile = $state(false);

  // the browser's model cache
  cached = $state.raw<CachedModelInfo[] | null>(null);
  cacheMessage = $state<string | null>(null);

  // generation
  prompt = $state('Tell me about the ocean in two sentences.');
  chat = $state(true);
  maxNewTokens = $state(32);
  temperature = $state(0);
  seed = $state(1);
  busy = $state(false);
  generateError = $state<string | null>(null);
  pair = $state.raw<GenerationPair | null>(null);

  // steering
  vectorSource = $state<'random' | 'file'>('random');
  vectorSeed = $state(7);
  vectorFile = $state.raw<VectorFile | null>(null);
  vectorFileName = $state<string | null>(null);
  vectorError = $state<string | null>(null);
  layer = $state(0);
  beta = $state(8);

  /** The unit-or-file direction currently selected (id names it in traces), or the reason there is none. */
  readonly direction = $derived.by((): { vector: Float32Array; id: string; label: string } | { problem: string } => {
    const m = this.model;
    if (!m) return { problem: 'load a model first' };
    if (this.vectorSource === 'file') {
      const f = this.vectorFile;
      if (!f) return { problem: 'choose a vector file' };
      const problem = vectorProblem({ layer: this.layer, hidden: f.hidden }, m);
      return problem ? { problem } : { vector: f.vector, id: this.vectorFileName ?? 'vector-file', label: `file ${this.vectorFileName}` };
    }
    return { vector: randomUnitVector(m.hidden, this.vectorSeed), id: `random-seed-${this.vectorSeed}`, label: `random unit direction, seed ${this.vectorSeed}` };
  });

  readonly agent: AgentState;

  constructor(private readonly client: ModelClient) {
    this.agent = new AgentState(client, this);
  }

  async load(what: { url: string } | { file: File }): Promise<void> {
    this.status = 'loading';
    this.loadError = null;
    this.progress = null;
    this.model = null;
    this.pair = null;
    this.source = 'url' in what ? what.url : what.file.name;
    this.fromFile = 'file' in what;
    try {
      const device = this.device === 'auto' ? undefined : this.device;
      const model = await this.client.loadModel({ ...what, device }, (p) => {
        this.progress = p;
      });
      this.model = model;
      this.layer = Math.min(this.vectorFile?.layer ?? Math.floor(model.layers / 2), model.layers - 1);
      this.status = 'ready';
    } catch (e) {
      this.loadError = describe(e);
      this.status = 'failed';
    }
    await this.refreshCache();
  }

  async refreshCache(): Promise<void> {
    try {
      this.cached = await this.client.cachedModels();
    } catch (e) {
      this.cached = null;
      this.cacheMessage = describe(e);
    }
  }

  async clearCache(): Promise<void> {
    try {
      const { removed } = await this.client.clearModelCache();
      this.cacheMessage = `removed ${removed} cached model${removed === 1 ? '' : 's'}`;
    } catch (e) {
      this.cacheMessage = describe(e);
    }
    await this.refreshCache();
  }

  loadDefault(): Promise<void> {
    return this.load({ url: DEFAULT_MODEL_URL });
  }

  async readVectorFile(file: File): Promise<void> {
    this.vectorError = null;
    try {
      const v = parseVectorJson(await file.text());
      this.vectorFile = v;
      this.vectorFileName = file.name;
      this.vectorSource = 'file';
      if (this.model) this.layer = Math.min(v.layer, this.model.layers - 1);
    } catch (e) {
      this.vectorError = describe(e);
    }
  }

  /** Generates twice with the same seed: without steering, then with the selected vector. */
  async generatePair(): Promise<void> {
    const d = this.direction;
    if ('problem' in d) {
      this.generateError = d.problem;
      return;
    }
    this.busy = true;
    this.generateError = null;
    const req = { prompt: this.prompt, chat: this.chat, maxNewTokens: this.maxNewTokens, temperature: this.temperature, seed: this.seed };
    const steering = { layer: this.layer, beta: this.beta, vector: d.vector };
    try {
      const plain = await this.client.generate(req);
      const steered = await this.client.generate({ ...req, steering });
      this.pair = { plain, steered, layer: steering.layer, beta: steering.beta, source: d.label };
    } catch (e) {
      this.generateError = describe(e);
    } finally {
      this.busy = false;
    }
  }
}
