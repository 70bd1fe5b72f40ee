/**
 * Engine benchmarks on the real model, measured side by side in one process on one backend:
 * decode speed (transformers.js generate() on the unmodified graph vs our loop unsteered and
 * steered), exact action distributions vs one decode step, GGUF load time and memory.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeLogProbs, sampleToken } from '../engine/logits.js';
import type { HookAdd } from '../engine/hook-points.js';
import type { ModelSession } from '../engine/session.js';
import { ControlVector } from '../steering/control-vector.js';
import { loadModel } from '../node/models.js';
import { exportGgufAsFolder } from './export.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export interface DecodeBench {
  promptTokens: number;
  newTokens: number;
  reps: number;
  tokensPerSecond: { transformersGenerate: number; oursUnsteered: number; oursSteered: number };
  ratios: { steeredVsGenerate: number; unsteeredVsGenerate: number; steeredVsUnsteered: number };
}

export async function benchDecode(modelPath: string, workDir: string, log: (s: string) => void, reps = 5, newTokens = 64): Promise<DecodeBench> {
  const folder = join(workDir, 'tjs-export');
  exportGgufAsFolder(new Uint8Array(readFileSync(modelPath)), folder);
  const tjs = await import('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = workDir;
  const model = await tjs.AutoModelForCausalLM.from_pretrained('tjs-export', { dtype: 'fp32', device: 'cpu', local_files_only: true, use_external_data_format: true });
  const session = await loadModel(modelPath);
  const prompt = session.chat([{ role: 'user', content: 'Write a short story about a robot who learns to paint.' }]);
  const ids = session.encode(prompt);
  const v = Float32Array.from({ length: session.info.hidden }, (_, i) => Math.sin(i) * 0.05);
  const steering = ControlVector.single(Math.floor(session.info.layers / 2), v).toHooks(1, 'generated');
  const input = new tjs.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
  const mask = new tjs.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
  const runTjs = () => model.generate({ input_ids: input, attention_mask: mask, max_new_tokens: newTokens, min_new_tokens: newTokens, do_sample: false } as never);
  const runOurs = (add: HookAdd[] | null) => async () => {
    const r = await session.generate(ids, { maxNewTokens: newTokens, stopIds: [], add });
    r.cache.dispose();
  };
  // Warm up each path once, then interleave repetitions so drift hits all three alike.
  await runTjs();
  await runOurs(null)();
  await runOurs(steering)();
  const t = { tjs: [] as number[], plain: [] as number[], steer: [] as number[] };
  for (let r = 0; r < reps; r++) {
    t.tjs.push(await timeIt(runTjs));
    t.plain.push(await timeIt(runOurs(null)));
    t.steer.push(await timeIt(runOurs(steering)));
    log(`  decode rep ${r + 1}/${reps}: generate ${t.tjs.at(-1)!.toFixed(0)} ms, ours ${t.plain.at(-1)!.toFixed(0)} ms, steered ${t.steer.at(-1)!.toFixed(0)} ms`);
  }
  const tps = (ms: number[]) => newTokens / (median(ms) / 1000);
  const out = { transformersGenerate: tps(t.tjs), oursUnsteered: tps(t.plain), oursSteered: tps(t.steer) };
  await session.dispose();
  await (model as unknown as { dispose(): Promise<void> }).dispose();
  return {
    promptTokens: ids.length,
    newTokens,
    reps,
    tokensPerSecond: out,
    ratios: { steeredVsGenerate: out.oursSteered / out.transformersGenerate, unsteeredVsGenerate: out.oursUnsteered / out.transformersGenerate, steeredVsUnsteered: out.oursSteered / out.oursUnsteered },
  };
}

export interface ScoringBench {
  decodeStepMs: number;
  exact: { K: number; ms: number; ratioToDecodeStep: number }[];
}

/** One decode step (forward one token + pick) vs the exact distribution over K single-token actions. */
export async function benchScoring(session: ModelSession, reps = 30): Promise<ScoringBench> {
  const ids = session.encode(session.chat([{ role: 'user', content: 'Pick a number.' }]) + 'Action: I choose Button');
  const cache = session.newCache();
  await session.forward(cache, ids.slice(0, -1));
  const last = ids.at(-1)!;
  const step = async (K: number | null) => {
    const f = cache.fork();
    const { logits } = await session.forward(f, [last], { region: 'generated' });
    if (K === null) sampleToken(logits, { temperature: 0, random: () => 0 });
    else normalizeLogProbs(await session.scoreContinuations(f, logits, Array.from({ length: K }, (_, k) => [100 + k])));
    f.dispose();
  };
  const Ks = [2, 5, 20];
  const times = new Map<number | null, number[]>([[null, []], ...Ks.map((k) => [k, []] as [number, number[]])]);
  for (let w = 0; w < 3; w++) await step(null);
  for (let r = 0; r < reps; r++) for (const k of times.keys()) times.get(k)!.push(await timeIt(() => step(k)));
  cache.dispose();
  const base = median(times.get(null)!);
  return { decodeStepMs: base, exact: Ks.map((K) => ({ K, ms: median(times.get(K)!), ratioToDecodeStep: median(times.get(K)!) / base })) };
}

export interface LoadRun {
  mode: string;
  totalMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  residentOverFile: number;
  /**
   * The same without onnxruntime's own library pages that the load touched (file-backed code,
   * the same for every model, shared between processes); null where /proc/self/smaps is missing.
   */
  residentOverFileWithoutRuntimeCode: number | null;
  [k: string]: unknown;
}

export interface LoadBench {
  fileBytes: number;
  /** Conversion in memory, as the browser does. */
  inMemory: LoadRun;
  /** Node's converted-model cache: the first load converts and writes it, the second reuses it. */
  cacheFirst: LoadRun;
  cacheReused: LoadRun;
}

/** Each load in a fresh child process so resident memory is the model's, measured after GC. */
export function benchLoad(modelPath: string): LoadBench {
  const script = join(import.meta.dirname, 'load-child.ts');
  const fileBytes = statSync(modelPath).size;
  const scratch = mkdtempSync(join(tmpdir(), 'steerlab-loadbench-'));
  const child = (mode: string): LoadRun => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, modelPath, mode], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, STEERLAB_CACHE: scratch } });
    if (r.status !== 0) throw new Error(`load benchmark child failed: ${r.stderr}`);
    const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as { mode: string; totalMs: number; rssBeforeBytes: number; rssAfterBytes: number; parts: { runtimeLibraryBytes: number } | null };
    const added = m.rssAfterBytes - m.rssBeforeBytes;
    return { ...m, residentOverFile: added / fileBytes, residentOverFileWithoutRuntimeCode: m.parts ? (added - m.parts.runtimeLibraryBytes) / fileBytes : null };
  };
  try {
    return { fileBytes, inMemory: child('memory'), cacheFirst: child('cached'), cacheReused: child('cached') };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
