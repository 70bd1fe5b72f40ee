/**
 * The tiny-model self-test, run inside the worker on the browser's own ONNX runtime: build small
 * random decoders (both export styles), run a steered forward, and return the numbers next to
 * the TypeScript reference forward's, so a test (or a curious user) can compare them.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { tinyConfig, tinyWeights } from './tiny.js';
import { buildDecoderGraph, type GraphDtype, type GraphStyle } from '../engine/onnx/decoder.js';
import { f16ToF32Array } from '../engine/onnx/graph.js';
import { openGraph } from '../engine/open.js';
import { ReferenceModel } from './reference.js';
import type { Runtime } from '../engine/runtime/types.js';
import { residPost, type HookAdd } from '../engine/hook-points.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import type { SelfTestCase, SelfTestRequest, SelfTestResult } from './selftest-api.js';

const PROMPT = [5, 17, 42, 8, 91, 33, 2];
const NEXT = 11;
const LAYER = 1;
const BETA = 1.5;

/** Token ids written as numbers: all the self-test needs. */
const idTokenizer: Tokenizer = {
  encode: (t) => t.trim().split(/\s+/).filter(Boolean).map(Number),
  decode: (ids) => ids.join(' '),
  applyChatTemplate: (m) => m.map((x) => x.content).join(' '),
  eosIds: [0],
  bosId: null,
};

/** Runs the graph without hooks (a separate session) over the prompt: last-position logits. */
async function plainLogits(runtime: Runtime, graph: Uint8Array, device: SelfTestCase['device'], ids: number[], dims: { layers: number; kvHeads: number; headDim: number; vocab: number }, half: boolean): Promise<Float32Array> {
  const { Tensor } = runtime.ort;
  const sess: InferenceSession = await runtime.createSession(graph, { device: device as 'wasm' | 'webgpu' });
  try {
    const S = ids.length;
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, S]),
      attention_mask: new Tensor('int64', new BigInt64Array(S).fill(1n), [1, S]),
    };
    if (sess.inputNames.includes('position_ids')) feeds.position_ids = new Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(i)), [1, S]);
    const empty = [1, dims.kvHeads, 0, dims.headDim];
    for (let l = 0; l < dims.layers; l++) for (const kv of ['key', 'value']) {
      feeds[`past_key_values.${l}.${kv}`] = half
        ? new Tensor('float16', new Uint16Array(0) as unknown as Float32Array, empty)
        : new Tensor('float32', new Float32Array(0), empty);
    }
    const out = await sess.run(feeds);
    const raw = await out.logits!.getData();
    // Browsers with Float16Array get float16 data as Float16Array, older ones as raw Uint16Array bits.
    const all = !half ? (raw as Float32Array) : raw instanceof Uint16Array ? f16ToF32Array(raw) : Float32Array.from(raw as ArrayLike<number>);
    for (const t of Object.values(out)) t.dispose();
    return all.slice((S - 1) * dims.vocab);
  } finally {
    await sess.release();
  }
}

async function runCase(runtime: Runtime, req: SelfTestRequest, style: GraphStyle, dtype: GraphDtype): Promise<SelfTestCase> {
  const t0 = performance.now();
  const cfg = tinyConfig({}, 'llama');
  const weights = tinyWeights(cfg, 7);
  const graph = buildDecoderGraph(cfg, weights, { style, dtype });
  const session = await openGraph(runtime, graph, { modelId: `tiny-${style}-${dtype}`, hash: 'tiny', architecture: 'llama', heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab }, idTokenizer, { device: req.device });
  try {
    const { hidden: H, layers } = cfg;
    const vector = Float32Array.from({ length: H }, (_, i) => Math.cos(i * 0.7) * 0.4);
    const add: HookAdd[] = [{ hook: residPost(LAYER), vector, scale: BETA, positions: 'all' }];
    const allLayers = Array.from({ length: layers }, (_, l) => residPost(l));
    const positions = [2, PROMPT.length - 1];

    const cache = session.newCache();
    const steered = await session.forward(cache, PROMPT, { add, read: { hooks: allLayers, at: positions } });
    const decoded = await session.forward(cache, [NEXT], { add, region: 'generated' });
    cache.dispose();

    const zeroCache = session.newCache();
    const zero = await session.forward(zeroCache, PROMPT, { add: [{ hook: residPost(LAYER), vector: new Float32Array(H), scale: 3, positions: 'all' }] });
    zeroCache.dispose();
    const noneCache = session.newCache();
    const none = await session.forward(noneCache, PROMPT, { add: null });
    noneCache.dispose();
    const plain = await plainLogits(runtime, graph, session.info.device, PROMPT, { layers, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab }, dtype === 'fp16');

    const ref = new ReferenceModel(cfg, weights);
    const full = new Float32Array(layers * H);
    full.set(vector.map((x) => x * BETA), LAYER * H);
    const steps = PROMPT.map((id) => ref.step(id, { steering: full }));
    const refHidden: number[] = [];
    for (let l = 0; l < layers; l++) for (const p of positions) refHidden.push(...steps[p]!.resid[l]!);
    const refDecode = ref.step(NEXT, { steering: full });

    return {
      style, dtype,
      device: session.info.device,
      ...(session.info.fallbackReason ? { fallbackReason: session.info.fallbackReason } : {}),
      layers, hidden: H, layer: LAYER, beta: BETA, prompt: PROMPT, positions,
      logits: Array.from(steered.logits),
      hiddenStates: allLayers.flatMap((h) => positions.flatMap((_, i) => Array.from(steered.acts.row(h, i)))),
      refLogits: Array.from(steps.at(-1)!.logits),
      refHiddenStates: refHidden,
      zeroLogits: Array.from(zero.logits),
      unsteeredLogits: Array.from(none.logits),
      plainLogits: Array.from(plain),
      decodeLogits: Array.from(decoded.logits),
      refDecodeLogits: Array.from(refDecode.logits),
      ms: performance.now() - t0,
    };
  } finally {
    await session.dispose();
  }
}

export async function tinySelfTest(runtime: Runtime & { webgpuProblem: string | null }, req: SelfTestRequest): Promise<SelfTestResult> {
  const cases: SelfTestCase[] = [];
  const skipped: string[] = [];
  for (const style of ['optimum', 'genai'] as const) cases.push(await runCase(runtime, req, style, 'fp32'));
  if (req.fp16) {
    for (const style of ['optimum', 'genai'] as const) {
      try {
        const c = await runCase(runtime, req, style, 'fp16');
        if (c.device === req.device) cases.push(c);
        else skipped.push(`${style} fp16 did not run on ${req.device}: ${c.fallbackReason ?? 'fell back'}`);
      } catch (e) {
        skipped.push(`${style} fp16 failed on ${req.device}: ${(e as Error).message}`);
      }
    }
  }
  return { devices: [...runtime.devices], webgpuProblem: runtime.webgpuProblem, cases, skipped };
}
