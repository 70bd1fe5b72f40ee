import { describe, expect, it } from 'vitest';
import { residPost } from '../src/engine/hook-points.js';
import { GgmlType } from '../src/engine/gguf/quant.js';
import { GgufValueType, parseGguf } from '../src/engine/gguf/reader.js';
import { writeGguf } from '../src/engine/gguf/writer.js';
import { tinyConfig, tinyWeights } from '../src/testing/tiny.js';
import { writeTinyGguf } from '../src/testing/tiny-gguf.js';
import { decodeModel, encodeModel } from '../src/engine/onnx/proto.js';
import { buildDecoderGraph, EXTERNAL_DATA_NAME } from '../src/engine/onnx/decoder.js';
import { openGraph } from '../src/engine/open.js';
import { ReferenceModel } from '../src/testing/reference.js';
import { nodeRuntime } from '../src/engine/runtime/node.js';
import { ggufWeights } from '../src/engine/sources/convert.js';
import { ggufToGraph } from '../src/engine/sources/gguf.js';
import { idTokenizer } from './helpers/tiny.js';

const T = GgmlType;
const TYPES: [string, number][] = [
  ['F32', T.F32], ['F16', T.F16], ['BF16', T.BF16], ['Q8_0', T.Q8_0], ['Q4_0', T.Q4_0], ['Q4_1', T.Q4_1], ['Q4_K', T.Q4_K], ['Q6_K', T.Q6_K],
  ['Q5_0', T.Q5_0], ['Q5_1', T.Q5_1], ['Q2_K', T.Q2_K], ['Q3_K', T.Q3_K], ['Q5_K', T.Q5_K],
];
const K_QUANTS = new Set<number>([T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]);

async function convertAndCompare(arch: 'llama' | 'qwen2', weightType: number, embedType: number, embedTable: 'shared' | 'own' = 'shared') {
  // K-quants need rows that are whole 256-element super-blocks.
  const kq = K_QUANTS.has(weightType);
  const cfg = tinyConfig(kq ? { hidden: 256, intermediate: 256, heads: 4, kvHeads: 2, headDim: 64, layers: 2 } : {}, arch);
  const w = tinyWeights(cfg, 11);
  const bytes = writeTinyGguf(cfg, w, { weightType, embedType });
  // accuracy_level 0: MatMulNBits computes in float, so the graph must match the dequantised weights exactly.
  const { file, cfg: got, graph, data } = ggufToGraph(bytes, { accuracyLevel: 0, embedTable });
  expect(got).toMatchObject({ layers: cfg.layers, hidden: cfg.hidden, heads: cfg.heads, kvHeads: cfg.kvHeads, intermediate: cfg.intermediate, vocab: cfg.vocab });
  const deq = ggufWeights(file, bytes, got);
  const s = await openGraph(nodeRuntime, graph, { modelId: 't', hash: 'h', architecture: arch, heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab }, idTokenizer, { externalData: [{ path: EXTERNAL_DATA_NAME, data }] });
  const ids = [1, 5, 9, 33, 60];
  const v = Float32Array.from({ length: cfg.hidden }, (_, i) => Math.sin(i * 1.3) * 0.3);
  const r = await s.forward(s.newCache(), ids, { add: [{ hook: residPost(0), vector: v, scale: 2 }] });
  const steer = new Float32Array(cfg.layers * cfg.hidden);
  steer.set(v.map((x) => 2 * x));
  // Reference on the converter's dequantised weights (checks the graph)...
  const ref = new ReferenceModel(got, deq);
  let rl!: Float32Array;
  for (const id of ids) rl = ref.step(id, { steering: steer }).logits;
  // ...and on the original float weights (checks the un-permutation and dequantisation).
  const orig = new ReferenceModel(cfg, w);
  let ol!: Float32Array;
  for (const id of ids) ol = orig.step(id, { steering: steer }).logits;
  let dGraph = 0;
  let dOrig = 0;
  for (let i = 0; i < cfg.vocab; i++) {
    dGraph = Math.max(dGraph, Math.abs(r.logits[i]! - rl[i]!));
    dOrig = Math.max(dOrig, Math.abs(r.logits[i]! - ol[i]!));
  }
  await s.dispose();
  return { dGraph, dOrig, logits: r.logits };
}

describe('GGUF conversion of tiny models', () => {
  // Quantisation error bounds vs the original float weights, per type (4-bit is coarse). F32 at
  // 1e-4 also proves the llama Q/K un-permutation: a wrong row order changes every logit.
  const origTol: Record<string, number> = { F32: 1e-4, F16: 5e-2, BF16: 0.3, Q8_0: 0.5, Q4_0: 4, Q4_1: 4, Q4_K: 4, Q6_K: 1, Q5_0: 2, Q5_1: 2, Q5_K: 2, Q3_K: 12, Q2_K: 24 };
  for (const [name, type] of TYPES) {
    it(`llama ${name}: graph equals the reference on the dequantised weights (1e-4) and approximates the float model`, async () => {
      const { dGraph, dOrig } = await convertAndCompare('llama', type, K_QUANTS.has(type) ? T.Q8_0 : type);
      expect(dGraph).toBeLessThan(1e-4);
      expect(dOrig).toBeLessThan(origTol[name]!);
    });
  }

  // Node's cache gives a tied 8-bit embedding its own gather table (embedTable 'own'); it must be
  // the same embedding as the lm_head's planes, bit for bit, with and without zero points.
  for (const [name, type] of [['Q8_0', T.Q8_0], ['Q5_0', T.Q5_0]] as const) {
    it(`tied ${name} embedding: its own gather table gives the same logits as the shared planes`, async () => {
      const shared = await convertAndCompare('llama', T.Q4_1, type, 'shared');
      const own = await convertAndCompare('llama', T.Q4_1, type, 'own');
      expect(own.dGraph).toBeLessThan(1e-4);
      expect(Array.from(own.logits)).toEqual(Array.from(shared.logits));
    });
  }

  it("with embedTable 'own', MatMulNBits weights feed nothing else (so onnxruntime can drop them after prepacking)", () => {
    const cfg = tinyConfig();
    const bytes = writeTinyGguf(cfg, tinyWeights(cfg, 3), { weightType: T.Q4_1, embedType: T.Q8_0 });
    const consumers = (embedTable: 'shared' | 'own') => {
      const m = decodeModel(ggufToGraph(bytes, { embedTable }).graph);
      const inits = new Set(m.graph.initializer.map((t) => t.name));
      const ops = new Map<string, Set<string>>();
      for (const n of m.graph.node) for (const i of n.input) if (inits.has(i)) ops.set(i, (ops.get(i) ?? new Set()).add(n.opType));
      return [...ops.entries()].filter(([, o]) => o.has('MatMulNBits')).map(([name, o]) => [name, [...o].sort().join(',')]);
    };
    const own = consumers('own');
    expect(own.length).toBeGreaterThan(0);
    expect(own.filter(([, o]) => o !== 'MatMulNBits')).toEqual([]);
    // The shared layout really does gather from the lm_head's planes (what 'own' avoids).
    expect(consumers('shared').some(([, o]) => o.includes('Gather'))).toBe(true);
  });

  it('qwen2 with q/k/v biases and no permutation', async () => {
    const { dGraph, dOrig } = await convertAndCompare('qwen2', T.Q4_1, T.Q8_0);
    expect(dGraph).toBeLessThan(1e-4);
    expect(dOrig).toBeLessThan(4);
  });

});

describe('GGUF bad input', () => {
  const cfg = tinyConfig();
  const w = tinyWeights(cfg, 2);

  it('unsupported architecture', () => {
    const bytes = writeGguf({ metadata: [['general.architecture', 'mamba']], tensors: [] });
    expect(() => ggufToGraph(bytes)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ARCH', message: expect.stringContaining('mamba') }));
  });

  it('unsupported quant type names the tensor and type', () => {
    const good = writeTinyGguf(cfg, w, {});
    // Rewrite the first block's ffn_up as IQ4_NL (a type the converter does not take).
    const f = parseGguf(good);
    const tensors = f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: good.subarray(t.offset, t.offset + t.nbytes) }));
    const up = tensors.find((t) => t.name === 'blk.0.ffn_up.weight')!;
    up.type = T.IQ4_NL;
    up.data = new Uint8Array((up.dims[0]! * up.dims[1]! / 32) * 18);
    const metadata = [...f.metadata.entries()].map(([k, v]) => [k, v, f.metadataTypes.get(k)] as [string, never, never]);
    const bytes = writeGguf({ metadata, tensors });
    expect(() => ggufToGraph(bytes)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_QUANT', message: expect.stringMatching(/^tensor 'blk\.0\.ffn_up\.weight' uses IQ4_NL; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K$/) }));
  });

  it('a GGUF holding only a vocabulary is refused as a model with a clear message', () => {
    const bytes = writeGguf({ metadata: [['general.architecture', 'llama'], ['llama.block_count', 2, GgufValueType.UINT32], ['llama.embedding_length', 64, GgufValueType.UINT32], ['llama.feed_forward_length', 96, GgufValueType.UINT32], ['llama.attention.head_count', 4, GgufValueType.UINT32], ['tokenizer.ggml.tokens', ['a', 'b'], { array: GgufValueType.STRING }]], tensors: [] });
    expect(() => ggufToGraph(bytes)).toThrow(expect.objectContaining({ code: 'GGUF_CORRUPT', message: expect.stringContaining('only a vocabulary') }));
  });

  it('a graph with no residual anchor is rejected naming what was looked for', async () => {
    const model = decodeModel(buildDecoderGraph(cfg, w, { style: 'optimum', dtype: 'fp32' }));
    for (const n of model.graph.node) n.name = (n.name ?? '').replace('/Add_1', '/ResidualSum');
    await expect(openGraph(nodeRuntime, encodeModel(model), { modelId: 'x', hash: 'x', architecture: 'llama', heads: 4, kvHeads: 2, headDim: 16, vocab: cfg.vocab }, idTokenizer)).rejects.toMatchObject({
      code: 'NO_RESIDUAL_ANCHOR',
      message: expect.stringContaining('/model/layers.L/Add_1'),
    });
  });

  it('implausible hyper-parameters are refused before any allocation', () => {
    const bytes = writeGguf({ metadata: [['general.architecture', 'llama'], ['llama.block_count', 4_000_000_000, GgufValueType.UINT32], ['llama.embedding_length', 64, GgufValueType.UINT32], ['llama.feed_forward_length', 96, GgufValueType.UINT32], ['llama.attention.head_count', 4, GgufValueType.UINT32]], tensors: [] });
    const t0 = performance.now();
    expect(() => ggufToGraph(bytes)).toThrow(expect.objectContaining({ code: 'GGUF_CORRUPT' }));
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
