/**
 * Child process for the peer benchmark (peer.ts): one engine per process, so its memory peak is
 * its own. argv: <ours|llama> <gguf path> <job.json>. The job gives the exact token ids (ours'
 * tokenizer; the same GGUF vocabulary for both), the thread count and how many tokens to time.
 * Prints one JSON line (PeerEngineRun) on stdout.
 *
 * Order inside the child: baseline RSS (runtime library loaded, no model) -> load -> RSS of the
 * loaded model -> the long prompt (prefill + decode, timed) -> peak RSS (VmHWM) -> the short
 * prompt, timed `reps` times. Decode speed is the time between the first and the last generated
 * token, i.e. the prefill is left out, the same way for both engines.
 */
import { readFileSync, statSync } from 'node:fs';
import { statusBytes } from './proc-mem.js';

export interface PeerJob {
  threads: number;
  shortIds: number[];
  longIds: number[];
  shortNewTokens: number;
  longNewTokens: number;
  reps: number;
  contextSize: number;
  /**
   * The agent step's shape: `tokens` more tokens of longIds appended to a context of `at[i]`
   * tokens (longIds' prefix), `reps` times each (the appended rows dropped again in between).
   */
  append?: { at: number[]; tokens: number; reps: number };
  /**
   * Set: only time `reps` generations of 1 and of 1 + newTokens tokens after shortIds and print
   * a GenDiffRun (the browser section's Node side, measured the way the page is). browserGraph:
   * load the graph the browser's wasm device runs (float32 block linears, the lm_head in the
   * 8-bit kernel where it is 8-bit) instead of Node's own (4-bit MatMulNBits), so the page's
   * runtime and its weight format can be told apart.
   */
  genDiff?: { reps: number; newTokens: number; browserGraph?: boolean };
}

export interface GenDiffRun {
  engine: 'ours' | 'llama.cpp';
  threads: number;
  promptTokens: number;
  newTokens: number;
  oneTokenMs: number;
  manyTokensMs: number;
  /** newTokens / (manyTokensMs - oneTokenMs): decode speed with the prefill taken out. */
  decodeTokensPerSecond: number;
  /** genDiff.browserGraph: the browser's wasm graph; its ModelInfo.lmHead. */
  browserGraph?: boolean;
  lmHead?: string;
}

export interface MemSample {
  rssBytes: number;
  anonBytes: number | null;
  fileBytes: number | null;
}

export interface PeerEngineRun {
  engine: 'ours' | 'llama.cpp';
  threads: number;
  /** What the engine says it runs on (thread count it reports, backend). */
  detail: Record<string, unknown>;
  fileBytes: number;
  loadMs: number;
  beforeLoad: MemSample;
  afterLoad: MemSample;
  /** (afterLoad - beforeLoad) RSS / GGUF size. */
  residentOverFile: number;
  long: { promptTokens: number; prefillMs: number; newTokens: number; decodeTokensPerSecond: number };
  /** VmHWM after generating from the long prompt (the whole process, library included). */
  peakRssBytes: number;
  /** peakRssBytes - beforeLoad RSS: what the model and the long generation added. */
  peakOverBaselineBytes: number;
  short: { promptTokens: number; newTokens: number; reps: number; decodeTokensPerSecond: number; allTokensPerSecond: number[] };
  /** Median ms to append job.append.tokens tokens at each context length in job.append.at. */
  append: { tokens: number; at: number[]; ms: number[] } | null;
}

function mem(): MemSample {
  const [anon, file] = statusBytes('RssAnon', 'RssFile');
  return { rssBytes: process.memoryUsage().rss, anonBytes: anon, fileBytes: file };
}

export function peakRss(): number {
  return statusBytes('VmHWM')[0] ?? process.resourceUsage().maxRSS * 1024;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Tokens per second between the first and the last token's timestamps. */
const decodeRate = (stamps: number[]) => (stamps.length - 1) / ((stamps.at(-1)! - stamps[0]!) / 1000);

interface Engine {
  detail: Record<string, unknown>;
  /** Generates `n` tokens greedily after `ids` from an empty context; returns each token's arrival time. */
  generate(ids: number[], n: number): Promise<{ stamps: number[]; start: number }>;
  /** Median ms of evaluating ids[at, at + tokens) after ids[0, at), per entry of `at` (descending). */
  append(ids: number[], at: number[], tokens: number, reps: number): Promise<number[]>;
}

interface LoadableEngine extends Engine {
  load(): Promise<void>;
}

async function ours(path: string, job: PeerJob): Promise<LoadableEngine> {
  const ort = await import('onnxruntime-node');
  const { nodeRuntime } = await import('../engine/runtime/node.js');
  const { loadModel } = await import('../node/models.js');
  await import('@huggingface/transformers');
  // The engine leaves onnxruntime's intra-op pool at its default (one thread per core); the
  // benchmark pins it to the peer's count. Only this child process's runtime is changed.
  nodeRuntime.createSession = async (model, opts) =>
    (await ort.InferenceSession.create(model as Uint8Array, {
      executionProviders: ['cpu'],
      logSeverityLevel: 3,
      graphOptimizationLevel: 'all',
      intraOpNumThreads: job.threads,
      interOpNumThreads: 1,
      ...(opts.externalData ? { externalData: opts.externalData } : {}),
    })) as never;
  const e = {
    detail: { backend: 'onnxruntime-node (cpu)', intraOpNumThreads: job.threads } as Record<string, unknown>,
    async generate(_ids: number[], _n: number): Promise<{ stamps: number[]; start: number }> {
      throw new Error('not loaded');
    },
    async append(_ids: number[], _at: number[], _tokens: number, _reps: number): Promise<number[]> {
      throw new Error('not loaded');
    },
    async load() {
      const session = await loadModel(path, { floatLinears: job.genDiff?.browserGraph });
      e.detail.lmHead = session.info.lmHead;
      // A fork of the kept cache per rep, as the agent scores its answers (writes after the prefix in place).
      e.append = async (ids, at, tokens, reps) => {
        const cache = session.newCache();
        await session.forward(cache, ids.slice(0, Math.max(...at)));
        const ms: number[] = [];
        for (const P of at) {
          await session.truncate(cache, P);
          const xs: number[] = [];
          for (let r = 0; r < reps; r++) {
            const f = cache.fork();
            const t0 = performance.now();
            await session.forward(f, ids.slice(P, P + tokens));
            xs.push(performance.now() - t0);
            f.dispose();
          }
          ms.push(median(xs));
        }
        cache.dispose();
        return ms;
      };
      e.detail.device = session.info.device;
      e.generate = async (ids: number[], n: number) => {
        const stamps: number[] = [];
        const start = performance.now();
        const r = await session.generate(ids, { maxNewTokens: n, stopIds: [], temperature: 0, onToken: () => void stamps.push(performance.now()) });
        r.cache.dispose();
        return { stamps, start };
      };
    },
  };
  return e;
}

async function llama(path: string, job: PeerJob): Promise<LoadableEngine> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const lib = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: job.threads });
  const e = {
    detail: { backend: 'llama.cpp via node-llama-cpp (cpu, prebuilt)', gpu: lib.gpu, cpuMathCores: lib.cpuMathCores } as Record<string, unknown>,
    async generate(_ids: number[], _n: number): Promise<{ stamps: number[]; start: number }> {
      throw new Error('not loaded');
    },
    async append(_ids: number[], _at: number[], _tokens: number, _reps: number): Promise<number[]> {
      throw new Error('not loaded');
    },
    async load() {
      const model = await lib.loadModel({ modelPath: path });
      const context = await model.createContext({ contextSize: job.contextSize, threads: { ideal: job.threads, min: job.threads }, sequences: 1 });
      e.detail.contextSize = context.contextSize;
      e.detail.threads = context.currentThreads;
      e.detail.batchSize = context.batchSize;
      const seq = context.getSequence();
      e.generate = async (ids: number[], n: number) => {
        await seq.clearHistory();
        const stamps: number[] = [];
        const start = performance.now();
        for await (const _tok of seq.evaluate(ids as never, { temperature: 0 })) {
          stamps.push(performance.now());
          if (stamps.length >= n) break;
        }
        return { stamps, start };
      };
      e.append = async (ids, at, tokens, reps) => {
        await seq.clearHistory();
        await seq.evaluateWithoutGeneratingNewTokens(ids.slice(0, Math.max(...at)) as never);
        const ms: number[] = [];
        for (const P of at) {
          if (seq.nextTokenIndex > P) await seq.eraseContextTokenRanges([{ start: P, end: seq.nextTokenIndex }]);
          const xs: number[] = [];
          for (let r = 0; r < reps; r++) {
            const t0 = performance.now();
            await seq.evaluateWithoutGeneratingNewTokens(ids.slice(P, P + tokens) as never);
            xs.push(performance.now() - t0);
            await seq.eraseContextTokenRanges([{ start: P, end: P + tokens }]);
          }
          ms.push(median(xs));
        }
        return ms;
      };
    },
  };
  return e;
}

async function main() {
  const [which, path, jobPath] = process.argv.slice(2) as ['ours' | 'llama', string, string];
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as PeerJob;
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const engine = await (which === 'ours' ? ours : llama)(path, job);
  if (job.genDiff) {
    await engine.load();
    const { reps, newTokens } = job.genDiff;
    const total = async (n: number) => {
      const g = await engine.generate(job.shortIds, n);
      return g.stamps.at(-1)! - g.start;
    };
    await total(4); // warm-up
    const one: number[] = [];
    const many: number[] = [];
    for (let r = 0; r < reps; r++) {
      one.push(await total(1));
      many.push(await total(newTokens + 1));
    }
    const out: GenDiffRun = { engine: which === 'ours' ? 'ours' : 'llama.cpp', threads: job.threads, promptTokens: job.shortIds.length, newTokens, oneTokenMs: median(one), manyTokensMs: median(many), decodeTokensPerSecond: newTokens / ((median(many) - median(one)) / 1000) };
    if (job.genDiff.browserGraph) Object.assign(out, { browserGraph: true, lmHead: engine.detail.lmHead });
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  }
  gc();
  const beforeLoad = mem();
  const t0 = performance.now();
  await engine.load();
  const loadMs = performance.now() - t0;
  // One token through the model, so lazily mapped weights are touched the way a run touches them.
  await engine.generate(job.shortIds, 1);
  gc();
  await new Promise((r) => setTimeout(r, 50));
  const afterLoad = mem();
  const fileBytes = statSync(path).size;
  const long = await engine.generate(job.longIds, job.longNewTokens + 1);
  const peakRssBytes = peakRss();
  const shortRates: number[] = [];
  await engine.generate(job.shortIds, 4); // warm-up
  for (let r = 0; r < job.reps; r++) shortRates.push(decodeRate((await engine.generate(job.shortIds, job.shortNewTokens + 1)).stamps));
  const at = job.append ? [...job.append.at].sort((x, y) => y - x) : [];
  const append = job.append ? { tokens: job.append.tokens, at, ms: await engine.append(job.longIds, at, job.append.tokens, job.append.reps) } : null;
  const out: PeerEngineRun = {
    engine: which === 'ours' ? 'ours' : 'llama.cpp',
    threads: job.threads,
    detail: engine.detail,
    fileBytes,
    loadMs,
    beforeLoad,
    afterLoad,
    residentOverFile: (afterLoad.rssBytes - beforeLoad.rssBytes) / fileBytes,
    long: { promptTokens: job.longIds.length, prefillMs: long.stamps[0]! - long.start, newTokens: long.stamps.length - 1, decodeTokensPerSecond: decodeRate(long.stamps) },
    peakRssBytes,
    peakOverBaselineBytes: peakRssBytes - beforeLoad.rssBytes,
    short: { promptTokens: job.shortIds.length, newTokens: job.shortNewTokens, reps: job.reps, decodeTokensPerSecond: median(shortRates), allTokensPerSecond: shortRates },
    append,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  // node-llama-cpp keeps native handles open; leave without waiting for them.
  process.exit(0);
}

await main();
