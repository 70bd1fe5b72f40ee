/**
 * ModelSession: the one interface the worker, the CLI and the agent use to run a steerable
 * decoder. It owns no game logic and no UI; it runs forwards over a caller-owned KVCache with
 * optional steering, returns logits and residual-stream hooks as Float32Arrays, scores
 * candidate continuations exactly, samples reproducibly, and edits the value cache.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { SteerlabError } from '../errors.js';
import { headsIntoRows, KVCache, PRESENT_ROWS, rowsToHeads, TensorPool } from './kvcache.js';
import { logProbAt, logSoftmax, sampleToken, tokenStats, topTokens } from './logits.js';
import { f16ToF32Array, f32ToF16Array } from './onnx/graph.js';
import { ActivationCache, packAdds, resolveHook, type HookAdd, type HookEdit, type HookRead, type Region } from './hook-points.js';
import type { Device, Runtime } from './runtime/types.js';
import type { Tokenizer, ChatMessage } from './tokenizer.js';
import type { TailWeights } from './tail/weights.js';
import type { LogitsHead } from './head/head8.js';
import { HEAD_INPUT, INPUTS_EMBEDS } from './onnx/hooks.js';


/**
 * float16 tensor data as float32. onnxruntime-node hands back raw bits (Uint16Array); onnxruntime-web
 * returns a Float16Array where the platform has one (Chromium does), whose elements are numbers.
 */
function halfToF32(raw: ArrayLike<number>): Float32Array {
  return raw instanceof Uint16Array ? f16ToF32Array(raw) : Float32Array.from(raw);
}

export interface ModelInfo {
  modelId: string;
  /** Content hash of the weights/graph source, for traces. */
  hash: string;
  architecture: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  style: string;
  dtype: string;
  device: Device;
  /** Set when the preferred device failed and we fell back; says why. */
  fallbackReason?: string;
  /** The most positions the model holds (context length); absent when the source does not say. */
  maxPositions?: number;
  /** Where the lm_head runs: in the graph, or outside it in the 8-bit wasm kernel (head/head8.ts). */
  lmHead?: 'graph' | 'kernel';
  /** Where embedding rows are gathered: in the graph, or from the kernel's tied table (the graph takes inputs_embeds). */
  embed?: 'graph' | 'kernel';
}

/**
 * One forward: the new ids' region, which hooks add what where, which value-cache rows to
 * overwrite first, and what to read back (see hook-points.ts).
 */
export interface ForwardRequest {
  region?: Region;
  add?: readonly HookAdd[] | null;
  edit?: readonly HookEdit[] | null;
  read?: HookRead | null;
  /** How many trailing positions get logits (default 1). */
  logitsFor?: number;
}

export interface ForwardResult {
  /** [logitsFor, vocab] */
  logits: Float32Array;
  /** What `read` asked for, by hook name. */
  acts: ActivationCache;
}

export interface GenerateOptions {
  maxNewTokens?: number;
  temperature?: number;
  topP?: number;
  random?: () => number;
  /** Hook additions for the prompt and every generated token (each applies where its positions say). */
  add?: readonly HookAdd[] | null;
  stopIds?: number[];
  /** Checked after each token with all ids so far; true ends generation there (e.g. a stop string was written). */
  stopWhen?: (ids: number[]) => boolean;
  /** Hooks read at the last position of every generated-token forward (what `beforeSample` sees). */
  read?: string[];
  /** What `read` gave for the position whose logits come first (the caller's last forward); generate() fills it. */
  firstActs?: ActivationCache | null;
  /** The region of the forward that produced the first logits (default prompt). */
  firstRegion?: Region;
  /**
   * Called before each token is sampled, and awaited; may return the logits to sample from
   * instead (test-time methods such as V-Reason, which edit the cache and recompute them).
   */
  beforeSample?: (s: BeforeSample) => Promise<Float32Array | void> | Float32Array | void;
  /**
   * Called after each token (and awaited, so a caller can yield to its event loop there); returning
   * additions replaces those in force from the next token on (live strength changes).
   */
  /** Record the k most probable alternatives of every generated token (GeneratedToken.top). */
  topK?: number;
  onToken?: (t: GeneratedToken, index: number) => readonly HookAdd[] | null | void | Promise<readonly HookAdd[] | null | void>;
}

export interface BeforeSample {
  cache: KVCache;
  logits: Float32Array;
  acts: ActivationCache | null;
  index: number;
  /** The additions in force for the forward that produced these logits, and its region. */
  add: readonly HookAdd[] | null;
  region: Region;
}

/** Where the last block's weights come from, for methods that differentiate through it (V-Reason). */
export type TailSource = { weights: TailWeights } | { load: () => Promise<TailWeights> } | { problem: string };

export interface GeneratedToken {
  id: number;
  /** log p(token) under the model's own (temperature 1) distribution. */
  logprob: number;
  /** entropy (nats) of that distribution. */
  entropy: number;
  /** With GenerateOptions.topK: the most probable tokens there (temperature 1). */
  top?: { id: number; p: number }[];
}

export interface GenerateResult {
  ids: number[];
  tokens: GeneratedToken[];
  text: string;
  stoppedBy: 'stop' | 'length';
}

/**
 * Prompt positions per forward on host-row caches (see forwardChunked). Each chunk's attention
 * scores span the whole host array; on SmolLM2 after a 2,800-token prompt, 128 peaked about
 * 40-50 MB lower than 512 for a few % more prefill time (64 saved nothing more).
 */
export const PREFILL_CHUNK = 128;
const PREFILL_HEADROOM = 256;
/** Positions per forward on WebGPU, below the 32 at which onnxruntime-web's graph goes wrong there (see chunkFor). */
export const WEBGPU_CHUNK = 16;

export class ModelSession {
  readonly pool = new TensorPool();
  /** Longest forward run in one piece on host-row caches; longer ones run in chunks (forwardChunked). */
  prefillChunk = PREFILL_CHUNK;
  /** The same for caches of present tensors: unlimited, except on WebGPU (see chunkFor). */
  presentChunk = Infinity;
  private readonly zeroSteering: Tensor;
  private readonly floatIsHalf: boolean;
  private readonly hostKV: boolean;
  /** 'logits', or 'head_input' where the lm_head runs outside the graph (this.head). */
  private readonly logitsOutput: string;
  /** The graph takes `inputs_embeds`, gathered by this.head from its tied table, instead of `input_ids`. */
  private readonly embedsOutside: boolean;
  private disposed = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly session: InferenceSession,
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    private tailSource: TailSource = { problem: 'this session was opened without access to its weights' },
    private readonly head?: LogitsHead,
  ) {
    const { Tensor } = runtime.ort;
    this.zeroSteering = new Tensor('float32', new Float32Array(info.layers * info.hidden), [info.layers, info.hidden]);
    this.floatIsHalf = info.dtype === 'fp16';
    // Host rows where the graph returns new rows and the cache would live in host memory anyway.
    const rows = session.outputNames.includes(`${PRESENT_ROWS}.0.key`);
    const present = session.outputNames.includes('present.0.key');
    this.logitsOutput = session.outputNames.includes('logits') ? 'logits' : HEAD_INPUT;
    if (this.logitsOutput === HEAD_INPUT) {
      if (!session.outputNames.includes(HEAD_INPUT)) throw new SteerlabError('BAD_GRAPH', "session graph returns neither 'logits' nor 'head_input'");
      if (!head) throw new SteerlabError('BAD_GRAPH', "session graph ends at the final norm ('head_input') but was opened without its lm_head");
      if (head.cols !== info.hidden || head.rows !== info.vocab) throw new SteerlabError('BAD_SHAPE', `lm_head is ${head.rows} x ${head.cols}, the model needs ${info.vocab} x ${info.hidden}`);
    }
    else if (head) throw new SteerlabError('BAD_GRAPH', "session graph ends in its own lm_head ('logits'); an outside lm_head would be ignored");
    this.embedsOutside = session.inputNames.includes(INPUTS_EMBEDS);
    if (this.embedsOutside && !head?.embed) throw new SteerlabError('BAD_GRAPH', "session graph takes 'inputs_embeds' but was opened without an embedding table to gather them from");
    if (this.embedsOutside && info.dtype !== 'fp32') throw new SteerlabError('BAD_GRAPH', "'inputs_embeds' is fed as float32; this graph is fp16");
    if (!rows && !present) throw new SteerlabError('BAD_GRAPH', "session graph returns neither 'present.0.key' nor 'present_rows.0.key': no KV cache to keep");
    // Host rows only for a graph made for them (kv 'rows': rows, no presents, token-major past);
    // a GroupQueryAttention graph keeps its present tensors (on WebGPU, in GPU buffers).
    this.hostKV = rows && !present;
    if (info.device === 'webgpu') this.presentChunk = WEBGPU_CHUNK;
    for (const name of ['steering', 'steering_mask', 'hidden_positions']) {
      if (!session.inputNames.includes(name)) throw new SteerlabError('BAD_GRAPH', `session graph lacks the '${name}' hook input`);
    }
  }

  // ---------- text ----------
  encode(text: string, addSpecial = false): number[] {
    return this.tokenizer.encode(text, addSpecial);
  }
  decode(ids: number[]): string {
    return this.tokenizer.decode(ids);
  }
  chat(messages: ChatMessage[], addGenerationPrompt = true): string {
    return this.tokenizer.applyChatTemplate(messages, addGenerationPrompt);
  }

  newCache(): KVCache {
    const { kvHeads, headDim } = this.info;
    return new KVCache(this.pool, this.info.layers, this.hostKV ? { kvHeads, headDim, half: this.floatIsHalf, maxRows: this.info.maxPositions } : null);
  }

  /** Runs ids through the model, appending to cache; applies the request's hooks (see hook-points.ts). */
  async forward(cache: KVCache, ids: number[], req: ForwardRequest = {}): Promise<ForwardResult> {
    this.check();
    const { Tensor } = this.runtime.ort;
    const { layers, kvHeads, headDim, hidden, vocab } = this.info;
    const S = ids.length;
    if (S === 0) throw new SteerlabError('BAD_ARGUMENT', 'forward needs at least one token');
    const max = this.info.maxPositions;
    if (max && cache.length + S > max) {
      throw new SteerlabError('CONTEXT_FULL', `the context would hold ${cache.length + S} tokens; ${this.info.modelId} holds at most ${max} (its context length)`);
    }
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new SteerlabError('BAD_ARGUMENT', `token id ${id} is outside the vocabulary (0..${vocab - 1})`);
    }
    const chunk = this.chunkFor(cache);
    if (S > chunk) return this.forwardChunked(cache, ids, req, chunk);
    const region = req.region ?? 'prompt';
    const steerData = packAdds(req.add, region, layers, hidden);
    const { readHooks, resolved, hp } = this.readPlan(req, S);
    for (const e of req.edit ?? []) {
      const h = resolveHook(e.hook, 'edit', layers);
      await this.writeValues(cache, h.layer, e.start, e.values);
    }
    const past = cache.length;
    const total = past + S;
    const keep = Math.min(S, Math.max(1, req.logitsFor ?? 1));

    // An empty host cache is fed one masked zero row (kv 'rows' graphs need a past of >= 1 row).
    const padRow = cache.isHost && past === 0;
    const mask = new BigInt64Array(total + (padRow ? 1 : 0)).fill(1n);
    if (padRow) mask[0] = 0n;
    const feeds: Record<string, Tensor> = {
      ...(this.embedsOutside
        ? { [INPUTS_EMBEDS]: new Tensor('float32', this.head!.embed!(ids), [1, S, hidden]) }
        : { input_ids: new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, S]) }),
      attention_mask: new Tensor('int64', mask, [1, mask.length]),
      steering: steerData ? new Tensor('float32', steerData, [layers, hidden]) : this.zeroSteering,
      steering_mask: new Tensor('float32', new Float32Array(S).fill(steerData ? 1 : 0), [1, S]),
      // An empty gather is not allowed everywhere; read position 0 and drop it below.
      hidden_positions: new Tensor('int64', BigInt64Array.from(hp.length ? hp : [0], BigInt), [hp.length || 1]),
    };
    const inputs = this.session.inputNames;
    if (inputs.includes('position_ids')) {
      feeds.position_ids = new Tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(past + i)), [1, S]);
    }
    if (inputs.includes('num_logits_to_keep')) feeds.num_logits_to_keep = new Tensor('int64', BigInt64Array.from([BigInt(keep)]), []);
    const kvType = this.floatIsHalf ? 'float16' : 'float32';
    const emptyPast = () => new Tensor(kvType as 'float32', (this.floatIsHalf ? new Uint16Array(0) : new Float32Array(0)) as Float32Array, [1, kvHeads, 0, headDim]);
    if (cache.isHost) {
      // The past is a prefix view of the host array (token-major, so its valid rows are contiguous):
      // exactly `past` rows, no copy.
      const fetch = [this.logitsOutput, 'resid_post'];
      const rowLen = kvHeads * headDim;
      for (let l = 0; l < layers; l++) {
        for (const [w, name] of [[0, 'key'], [1, 'value']] as const) {
          const p = cache.hostPast(l, w);
          feeds[`past_key_values.${l}.${name}`] = p ? new Tensor(kvType as 'float32', p.data.subarray(0, past * rowLen) as Float32Array, [1, past, kvHeads, headDim]) : this.padPast();
          fetch.push(`${PRESENT_ROWS}.${l}.${name}`);
        }
      }
      const out = await this.session.run(feeds, fetch);
      const { data } = cache.hostWritable(past, total);
      for (let l = 0; l < layers; l++) {
        for (const [w, name] of [[0, 'key'], [1, 'value']] as const) {
          const t = out[`${PRESENT_ROWS}.${l}.${name}`]!;
          data[l]![w].set(this.hostRowsOf(await t.getData()), past * rowLen);
          t.dispose();
        }
      }
      cache.setHostLength(total);
      return this.forwardResult(out, cache, keep, hp, resolved, readHooks);
    }
    const entries = cache.entries;
    for (let l = 0; l < layers; l++) {
      if (entries) {
        feeds[`past_key_values.${l}.key`] = entries[l]![0];
        feeds[`past_key_values.${l}.value`] = entries[l]![1];
      } else {
        feeds[`past_key_values.${l}.key`] = emptyPast();
        feeds[`past_key_values.${l}.value`] = emptyPast();
      }
    }
    const out = await this.session.run(feeds);
    const next: [Tensor, Tensor][] = [];
    for (let l = 0; l < layers; l++) next.push([out[`present.${l}.key`]!, out[`present.${l}.value`]!]);
    cache.replace(next, total);
    return this.forwardResult(out, cache, keep, hp, resolved, readHooks);
  }

  /**
   * A long forward as consecutive chunks over the same cache: the same result (each position
   * attends to the same keys), but attention scores and activations are held for one chunk at a
   * time, so a prompt's peak memory no longer grows with its length squared.
   */
  private async forwardChunked(cache: KVCache, ids: number[], req: ForwardRequest, chunk: number): Promise<ForwardResult> {
    const S = ids.length;
    const keep = Math.min(S, Math.max(1, req.logitsFor ?? 1));
    const { readHooks, resolved, hp } = this.readPlan(req, S);
    const start = cache.length;
    // One allocation for the whole prompt and the first tokens after it.
    if (cache.isHost) cache.hostWritable(start, Math.min(start + S + PREFILL_HEADROOM, this.info.maxPositions ?? Infinity));
    const residHooks = readHooks.filter((_, i) => resolved[i]!.kind !== 'v');
    const logits: Float32Array[] = [];
    const parts: { at: number[]; acts: ActivationCache }[] = [];
    try {
      for (let a = 0; a < S; a += chunk) {
        const b = Math.min(S, a + chunk);
        const at = hp.filter((p) => p >= a && p < b).map((p) => p - a);
        const wantLogits = b > S - keep;
        const r = await this.forward(cache, ids.slice(a, b), {
          region: req.region,
          add: req.add,
          edit: a === 0 ? req.edit : null,
          read: at.length ? { hooks: residHooks, at } : null,
          logitsFor: wantLogits ? b - Math.max(a, S - keep) : 1,
        });
        if (wantLogits) logits.push(r.logits);
        if (at.length) parts.push({ at: at.map((p) => p + a), acts: r.acts });
      }
    } catch (e) {
      await this.truncate(cache, start);
      throw e;
    }
    const { layers, hidden } = this.info;
    // Residual reads in the order asked: [hook row][read index][hidden], as one forward returns them.
    const rows = residHooks.length ? Math.max(...residHooks.map((h) => resolveHook(h, 'read', layers).row)) + 1 : 0;
    const resid = new Float32Array(rows ? (rows * hp.length * hidden) : 0);
    hp.forEach((p, i) => {
      const part = parts.find((q) => q.at.includes(p))!;
      const j = part.at.indexOf(p);
      for (const h of residHooks) {
        const { row } = resolveHook(h, 'read', layers);
        resid.set(part.acts.row(h, j), (row * hp.length + i) * hidden);
      }
    });
    const values = new Map<string, Float32Array>();
    for (const h of resolved) if (h.kind === 'v') values.set(h.name, await this.readValues(cache, h.layer, 0, cache.length));
    const all = new Float32Array(keep * this.info.vocab);
    let o = 0;
    for (const l of logits) {
      all.set(l, o);
      o += l.length;
    }
    return { logits: all, acts: new ActivationCache(resid, layers, hidden, hp, values, readHooks) };
  }

  /**
   * The longest forward run in one piece on this cache: host rows chunk for memory (see
   * PREFILL_CHUNK); on WebGPU, onnxruntime-web's graph gives wrong logits for 32 or more new
   * positions (in chromium on SwiftShader, tiny llama, qwen3 and gemma3 GGUFs: 31 agree with the
   * CPU engine, 32 do not, decode steps after them do), so longer forwards run in pieces.
   */
  private chunkFor(cache: KVCache): number {
    return cache.isHost ? this.prefillChunk : this.presentChunk;
  }

  /** The request's read hooks, resolved, and the chunk positions residual hooks are read at (checked). */
  private readPlan(req: ForwardRequest, S: number): { readHooks: readonly string[]; resolved: ReturnType<typeof resolveHook>[]; hp: number[] } {
    const readHooks = req.read?.hooks ?? [];
    const resolved = readHooks.map((h) => resolveHook(h, 'read', this.info.layers));
    const needResid = resolved.some((h) => h.kind !== 'v');
    const hp = needResid ? [...(req.read?.at ?? [S - 1])] : [];
    for (const p of hp) if (!Number.isInteger(p) || p < 0 || p >= S) throw new SteerlabError('BAD_ARGUMENT', `read position ${p} is outside this chunk (0..${S - 1})`);
    return { readHooks, resolved, hp };
  }

  /** Logits and hook reads from a forward's outputs. */
  private async forwardResult(out: Record<string, Tensor>, cache: KVCache, keep: number, hp: number[], resolved: ReturnType<typeof resolveHook>[], readHooks: readonly string[]): Promise<ForwardResult> {
    const { layers, hidden, vocab } = this.info;
    const logitsT = out[this.logitsOutput]!;
    const raw = await logitsT.getData();
    let logits = this.floatIsHalf ? halfToF32(raw as ArrayLike<number>) : (raw as Float32Array);
    const width = this.head ? hidden : vocab;
    const have = logitsT.dims[1]!;
    if (have > keep) logits = logits.subarray((have - keep) * width);
    logitsT.dispose();
    if (this.head) logits = this.head.logits(logits, keep);
    const residT = out.resid_post!;
    const resid = hp.length ? ((await residT.getData()) as Float32Array) : new Float32Array(0);
    residT.dispose();
    const values = new Map<string, Float32Array>();
    for (const h of resolved) if (h.kind === 'v') values.set(h.name, await this.readValues(cache, h.layer, 0, cache.length));
    // Output buffers are fresh per run, so the (possibly sliced) views can be handed out as is.
    return { logits, acts: new ActivationCache(resid, layers, hidden, hp, values, readHooks) };
  }

  /**
   * Exact log-probabilities of candidate continuations after the cached prompt. `lastLogits`
   * are the logits the prompt's final forward returned (so single-token candidates cost no
   * forward); multi-token candidates each run one cached forward on a fork.
   */
  async scoreContinuations(cache: KVCache, lastLogits: Float32Array, candidates: number[][], add?: readonly HookAdd[] | null): Promise<number[]> {
    return (await this.scoreAnswers(cache, lastLogits, candidates, { add })).logprobs;
  }

  /**
   * The same, at temperature 1 (`logprobs`) and at `temperature` applied per token (`tempered`:
   * sum of log softmax(logits / T) over the candidate's tokens, i.e. the probability of sampling
   * exactly that answer token by token at T). T <= 0 scores at 1.
   */
  async scoreAnswers(cache: KVCache, lastLogits: Float32Array, candidates: number[][], o: { add?: readonly HookAdd[] | null; temperature?: number } = {}): Promise<{ logprobs: number[]; tempered: number[] }> {
    if (candidates.some((c) => c.length === 0)) throw new SteerlabError('BAD_ARGUMENT', 'a candidate continuation is empty');
    const T = o.temperature !== undefined && o.temperature > 0 ? o.temperature : 1;
    const first = logSoftmax(lastLogits);
    const firstT = T === 1 ? first : logSoftmax(lastLogits, T);
    const logprobs: number[] = [];
    const tempered: number[] = [];
    for (const cand of candidates) {
      let lp = first[cand[0]!]!;
      let lt = firstT[cand[0]!]!;
      if (cand.length > 1) {
        const fork = cache.fork();
        try {
          const r = await this.forward(fork, cand.slice(0, -1), { region: 'generated', add: o.add, logitsFor: cand.length - 1 });
          const V = this.info.vocab;
          for (let i = 1; i < cand.length; i++) {
            const row = r.logits.subarray((i - 1) * V, i * V);
            lp += logProbAt(row, cand[i]!);
            lt += T === 1 ? logProbAt(row, cand[i]!) : logProbAt(row, cand[i]!, T);
          }
        } finally {
          fork.dispose();
        }
      }
      logprobs.push(lp);
      tempered.push(T === 1 ? lp : lt);
    }
    return { logprobs, tempered };
  }

  /** Token-by-token sampling after a prompt already in the cache. */
  async generateFrom(cache: KVCache, lastLogits: Float32Array, opts: GenerateOptions = {}): Promise<GenerateResult> {
    const max = opts.maxNewTokens ?? 64;
    const stop = new Set(opts.stopIds ?? this.tokenizer.eosIds);
    const random = opts.random ?? (() => { throw new SteerlabError('BAD_ARGUMENT', 'sampling at temperature > 0 needs a seeded random source'); });
    let add = opts.add ?? null;
    let logits = lastLogits;
    let acts: ActivationCache | null = opts.firstActs ?? null;
    let region: Region = opts.firstRegion ?? 'prompt';
    const read = opts.read?.length ? { hooks: opts.read } : null;
    const tokens: GeneratedToken[] = [];
    let stoppedBy: 'stop' | 'length' = 'length';
    /** Stopped by stopWhen: the last token is text (an end token is not). */
    let stopText = false;
    for (let i = 0; i < max; i++) {
      if (opts.beforeSample) logits = (await opts.beforeSample({ cache, logits, acts, index: i, add, region })) ?? logits;
      const id = sampleToken(logits, { temperature: opts.temperature ?? 0, topP: opts.topP, random });
      const tok: GeneratedToken = { id, ...tokenStats(logits, id), ...(opts.topK ? { top: topTokens(logits, opts.topK) } : {}) };
      tokens.push(tok);
      const changed = opts.onToken ? await opts.onToken(tok, i) : undefined;
      if (changed !== undefined) add = changed;
      if (stop.has(id)) {
        stoppedBy = 'stop';
        break;
      }
      if (opts.stopWhen?.(tokens.map((t) => t.id))) {
        stoppedBy = 'stop';
        stopText = true;
        break;
      }
      if (i + 1 < max) {
        const r = await this.forward(cache, [id], { region: 'generated', add, read });
        logits = r.logits;
        acts = read ? r.acts : null;
        region = 'generated';
      }
    }
    const ids = tokens.map((t) => t.id);
    const textIds = stoppedBy === 'stop' && !stopText ? ids.slice(0, -1) : ids;
    return { ids, tokens, text: this.decode(textIds), stoppedBy };
  }

  /**
   * Prefill a prompt into a fresh cache and generate. The caller gets the cache back (and must
   * dispose it); it holds the prompt and every generated token but the last, which was sampled
   * and never fed back.
   */
  async generate(promptIds: number[], opts: GenerateOptions = {}): Promise<GenerateResult & { cache: KVCache }> {
    const cache = this.newCache();
    try {
      const read = opts.read?.length ? { hooks: opts.read } : null;
      const { logits, acts } = await this.forward(cache, promptIds, { region: 'prompt', add: opts.add, read });
      return { ...(await this.generateFrom(cache, logits, { ...opts, firstActs: read ? acts : null })), cache };
    } catch (e) {
      cache.dispose();
      throw e;
    }
  }

  private padRowTensor: Tensor | null = null;
  /** One zero row, [1, 1, kvHeads, headDim]: the masked past of an empty host cache. */
  private padPast(): Tensor {
    const { kvHeads, headDim } = this.info;
    const n = kvHeads * headDim;
    return (this.padRowTensor ??= new this.runtime.ort.Tensor((this.floatIsHalf ? 'float16' : 'float32') as 'float32', (this.floatIsHalf ? new Uint16Array(n) : new Float32Array(n)) as Float32Array, [1, 1, kvHeads, headDim]));
  }

  /** Host rows keep raw half bits; onnxruntime-web may return a Float16Array of numbers instead. */
  private hostRowsOf(raw: unknown): Float32Array | Uint16Array {
    if (!this.floatIsHalf) return raw as Float32Array;
    return raw instanceof Uint16Array ? raw : f32ToF16Array(Float32Array.from(raw as ArrayLike<number>));
  }

  // ---------- value cache ----------
  /** One layer's whole present tensor as float32 [kvHeads, T, headDim] (tensor caches). */
  private async layerData(cache: KVCache, layer: number, which: 0 | 1): Promise<Float32Array> {
    this.checkLayer(layer);
    const entries = cache.entries;
    if (!entries) throw new SteerlabError('BAD_ARGUMENT', 'cache is empty');
    const raw = await entries[layer]![which].getData();
    return this.floatIsHalf ? halfToF32(raw as ArrayLike<number>) : Float32Array.from(raw as Float32Array);
  }

  /**
   * The last block's weights after its value cache (see tail/), loaded on first use. Throws a
   * one-line error when the session cannot reach them (e.g. a graph in an unreadable style).
   */
  async tail(): Promise<TailWeights> {
    const s = this.tailSource;
    if ('weights' in s) return s.weights;
    if ('problem' in s) throw new SteerlabError('UNSUPPORTED_ARCH', `the last block's weights are not available: ${s.problem}`);
    const weights = await s.load();
    this.tailSource = { weights };
    return weights;
  }

  /** Keys of one layer over positions [start, end): [kvHeads, end-start, headDim] (after rotary). */
  async readKeys(cache: KVCache, layer: number, start: number, end: number): Promise<Float32Array> {
    return this.readRows(cache, layer, start, end, 0);
  }

  /** Values of one layer over positions [start, end): [kvHeads, end-start, headDim]. */
  async readValues(cache: KVCache, layer: number, start: number, end: number): Promise<Float32Array> {
    return this.readRows(cache, layer, start, end, 1);
  }

  private async readRows(cache: KVCache, layer: number, start: number, end: number, which: 0 | 1): Promise<Float32Array> {
    this.checkSpan(cache, start, end);
    const { kvHeads, headDim } = this.info;
    if (cache.isHost) {
      // Only the span is converted: host rows are token-major, so it is one contiguous slice.
      this.checkLayer(layer);
      const rowLen = kvHeads * headDim;
      const raw = cache.hostRows(layer, which).data.subarray(start * rowLen, end * rowLen);
      return rowsToHeads(this.floatIsHalf ? f16ToF32Array(raw as Uint16Array) : (raw as Float32Array), kvHeads, headDim);
    }
    const all = await this.layerData(cache, layer, which);
    const T = cache.length, n = end - start;
    const out = new Float32Array(kvHeads * n * headDim);
    for (let h = 0; h < kvHeads; h++) out.set(all.subarray((h * T + start) * headDim, (h * T + end) * headDim), h * n * headDim);
    return out;
  }

  /** Overwrites values of one layer at [start, start+n) with data [kvHeads, n, headDim] (copy-on-write). */
  async writeValues(cache: KVCache, layer: number, start: number, data: Float32Array): Promise<void> {
    const { kvHeads, headDim } = this.info;
    if (data.length % (kvHeads * headDim) !== 0) throw new SteerlabError('BAD_SHAPE', `value data of ${data.length} is not a multiple of kvHeads*headDim = ${kvHeads * headDim}`);
    const n = data.length / (kvHeads * headDim);
    this.checkSpan(cache, start, start + n);
    if (cache.isHost) {
      this.checkLayer(layer);
      const { data: arrays } = cache.hostWritable(start, start + n);
      const dst = arrays[layer]![1];
      headsIntoRows(this.floatIsHalf ? f32ToF16Array(data) : data, dst as typeof data, kvHeads, headDim, start);
      return;
    }
    const all = await this.layerData(cache, layer, 1);
    const T = cache.length;
    for (let h = 0; h < kvHeads; h++) all.set(data.subarray(h * n * headDim, (h + 1) * n * headDim), (h * T + start) * headDim);
    const { Tensor } = this.runtime.ort;
    const t = this.floatIsHalf
      ? new Tensor('float16', f32ToF16Array(all) as unknown as Float32Array, [1, kvHeads, T, headDim])
      : new Tensor('float32', all, [1, kvHeads, T, headDim]);
    cache.setLayer(layer, 1, t as Tensor);
  }

  /** Drops positions >= n from the cache (e.g. to rewind to a shared prompt). */
  async truncate(cache: KVCache, n: number): Promise<void> {
    if (n < 0 || n > cache.length) throw new SteerlabError('BAD_ARGUMENT', `cannot truncate a cache of ${cache.length} to ${n}`);
    if (n === cache.length) return;
    if (cache.isHost) return cache.setHostLength(n);
    const { kvHeads, headDim, layers } = this.info;
    const { Tensor } = this.runtime.ort;
    const T = cache.length;
    const next: [Tensor, Tensor][] = [];
    for (let l = 0; l < layers; l++) {
      const pair: Tensor[] = [];
      for (const which of [0, 1] as const) {
        const raw = (await cache.entries![l]![which].getData()) as Float32Array | Uint16Array;
        const out = new (raw.constructor as Float32ArrayConstructor)(kvHeads * n * headDim);
        for (let h = 0; h < kvHeads; h++) out.set(raw.subarray(h * T * headDim, (h * T + n) * headDim), h * n * headDim);
        pair.push(new Tensor(this.floatIsHalf ? 'float16' : 'float32', out as Float32Array, [1, kvHeads, n, headDim]) as Tensor);
      }
      next.push(pair as [Tensor, Tensor]);
    }
    cache.replace(next, n);
  }

  private checkLayer(layer: number): void {
    if (layer < 0 || layer >= this.info.layers) throw new SteerlabError('BAD_ARGUMENT', `layer ${layer} is outside 0..${this.info.layers - 1}`);
  }

  private checkSpan(cache: KVCache, start: number, end: number): void {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > cache.length || start >= end) {
      throw new SteerlabError('BAD_ARGUMENT', `span [${start}, ${end}) is outside the cache (length ${cache.length})`);
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }

  private check(): void {
    if (this.disposed) throw new SteerlabError('DISPOSED', 'this model session was disposed');
  }
}
