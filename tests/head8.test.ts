/**
 * The 8-bit lm_head kernel (head/head8.ts): its logits equal a float64 product over the
 * dequantised weights (zero points, softcap, every position count the 4-position tile
 * and its tail see), a session whose graph ends at the final norm gives the same logits, ids and
 * scores as the lm_head in the graph, bad input fails in one line, and the committed wasm is the
 * one its source compiles to.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { GgmlType } from '../src/engine/gguf/quant.js';
import { residPost } from '../src/engine/hook-points.js';
import { Head8, head8Supports } from '../src/engine/head/head8.js';
import { matrixToFloat, type Matrix } from '../src/engine/model/types.js';
import { nodeRuntime } from '../src/engine/runtime/node.js';
import { openGguf } from '../src/engine/sources/gguf.js';
import { openGraph } from '../src/engine/open.js';
import { buildDecoderGraph } from '../src/engine/onnx/decoder.js';
import { tinyConfig, tinyWeights } from '../src/testing/tiny.js';
import { idTokenizer } from './helpers/tiny.js';
import { tinyGguf } from './browser/tiny-gguf.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function matrix8(rows: number, cols: number, seed: number, o: { zeroPoints?: boolean } = {}): Extract<Matrix, { kind: 'nbits' }> {
  const r = rng(seed);
  const nb = (rows * cols) / 32;
  return {
    kind: 'nbits', rows, cols, bits: 8, blockSize: 32,
    B: Uint8Array.from({ length: rows * cols }, () => Math.floor(r() * 256)),
    scales: Float32Array.from({ length: nb }, () => 0.001 + r() * 0.02),
    zeroPoints: o.zeroPoints ? Float32Array.from({ length: nb }, () => Math.floor(r() * 256)) : null,
  };
}

/** logits in float64 from the dequantised weights. */
function reference(m: Matrix, x: Float32Array, P: number): Float64Array {
  const w = matrixToFloat(m);
  const out = new Float64Array(P * m.rows);
  for (let p = 0; p < P; p++) {
    for (let v = 0; v < m.rows; v++) {
      let t = 0;
      for (let i = 0; i < m.cols; i++) t += w[v * m.cols + i]! * x[p * m.cols + i]!;
      out[p * m.rows + v] = t;
    }
  }
  return out;
}

function maxAbsDiff(a: number[], b: number[]): number {
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
}

function maxRelErr(got: Float32Array, want: Float64Array): number {
  let scale = 0;
  for (const w of want) scale = Math.max(scale, Math.abs(w));
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
  return err / scale;
}

describe('Head8, the 8-bit lm_head kernel', () => {
  const cases: [string, { zeroPoints?: boolean }][] = [['Q8_0 (zero point 128)', {}], ['float zero points', { zeroPoints: true }]];
  for (const [name, o] of cases) {
    it(`${name}: every position count matches the float64 product to 1e-6 of its scale`, () => {
      const m = matrix8(97, 96, 7, o);
      const head = new Head8(m);
      for (const P of [1, 3, 4, 5, 9]) {
        const r = rng(P);
        const x = Float32Array.from({ length: P * m.cols }, () => r() * 2 - 1);
        const got = head.logits(x, P);
        expect(got.length).toBe(P * m.rows);
        expect(maxRelErr(got, reference(m, x, P))).toBeLessThan(1e-6);
      }
    });
  }

  it('keeps one byte per weight and one float per 32 (Q8_0), and applies a softcap after the product', () => {
    const m = matrix8(64, 64, 3);
    const head = new Head8(m, 0.5);
    expect(head.bytes).toBeLessThan(64 * 64 + (64 * 64) / 32 * 4 + 32);
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
    const want = reference(m, x, 1).map((l) => 0.5 * Math.tanh(l / 0.5));
    expect(maxRelErr(head.logits(x, 1), want)).toBeLessThan(1e-5);
  });

  it('gives a tied table\'s embedding rows as matrixToFloat dequantises them, bit for bit (Q8_0)', () => {
    const m = matrix8(50, 64, 9);
    const rows = new Head8(m).embed([7, 0, 49, 7]);
    const w = matrixToFloat(m);
    [7, 0, 49, 7].forEach((id, p) => expect(rows.subarray(p * 64, (p + 1) * 64)).toEqual(w.subarray(id * 64, (id + 1) * 64)));
  });

  it('refuses 4-bit matrices and inputs of the wrong length in one line', () => {
    const four: Matrix = { kind: 'nbits', rows: 4, cols: 32, bits: 4, blockSize: 32, B: new Uint8Array(64), scales: new Float32Array(4), zeroPoints: null };
    expect(head8Supports(four)).toBe(false);
    expect(head8Supports({ ...matrix8(4, 32, 1), mins: new Float32Array(4) })).toBe(false);
    expect(() => new Head8(four)).toThrow('Head8 takes an 8-bit matrix in blocks of 32');
    const head = new Head8(matrix8(4, 32, 1));
    expect(() => head.logits(new Float32Array(31), 1)).toThrow('lm_head input has 31 values, expected 1 x 32');
  });

  it('the committed wasm is what its AssemblyScript source compiles to', () => {
    expect(() => execFileSync(process.execPath, ['scripts/build-kernels.mjs', '--check'], { stdio: 'pipe' })).not.toThrow();
  }, 60_000);
});

describe('a session with its lm_head outside the graph', () => {
  const gemma = tinyGguf(5, 8192, { arch: 'gemma3', weightType: GgmlType.Q4_0, embedType: GgmlType.Q8_0, embedScale: 0.3 });
  const prompt = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 256);

  it('gives the logits, greedy ids, chunked prefill and candidate scores of the lm_head and embedding in the graph (tiny Gemma 3, tied Q8_0)', async () => {
    const inGraph = (await openGguf(nodeRuntime, gemma.bytes, 'g', { lmHead: 'graph' })).session;
    const outside = (await openGguf(nodeRuntime, gemma.bytes, 'g', { lmHead: 'kernel' })).session;
    try {
      expect(inGraph.info).toMatchObject({ lmHead: 'graph', embed: 'graph' });
      // The tied table is held once, by the kernel: the graph takes inputs_embeds.
      expect(outside.info).toMatchObject({ lmHead: 'kernel', embed: 'kernel' });
      const forward = async (s: typeof inGraph, chunk: number) => {
        s.prefillChunk = chunk;
        const c = s.newCache();
        // Steered at block 1, reading the residual after blocks 0 and 1.
        const vec = Float32Array.from({ length: s.info.hidden }, (_, i) => Math.cos(i));
        const read = { hooks: [residPost(0), residPost(1)], at: [3, 39] };
        const r = await s.forward(c, prompt, { logitsFor: 6, add: [{ hook: residPost(1), vector: vec, scale: 0.5, positions: 'all' }], read });
        const acts = [...read.hooks.flatMap((h) => [0, 1].map((j) => Array.from(r.acts.row(h, j))))].flat();
        const gen = await s.generateFrom(c, r.logits.subarray(5 * s.info.vocab), { maxNewTokens: 12, temperature: 0 });
        const fork = s.newCache();
        await s.forward(fork, prompt);
        const scores = await s.scoreContinuations(fork, r.logits.subarray(5 * s.info.vocab), [[65, 66, 67], [70], [71, 72]]);
        c.dispose();
        fork.dispose();
        return { logits: r.logits, ids: gen.ids, scores, acts };
      };
      for (const chunk of [128, 16]) {
        const a = await forward(inGraph, chunk);
        const b = await forward(outside, chunk);
        expect(b.logits.length).toBe(6 * gemma.cfg.vocab);
        let err = 0;
        for (let i = 0; i < a.logits.length; i++) err = Math.max(err, Math.abs(a.logits[i]! - b.logits[i]!));
        expect(err).toBeLessThan(1e-4);
        expect(b.ids).toEqual(a.ids);
        expect(maxAbsDiff(b.acts, a.acts)).toBeLessThan(1e-4);
        b.scores.forEach((s, i) => expect(s).toBeCloseTo(a.scores[i]!, 4));
      }
    } finally {
      await inGraph.dispose();
      await outside.dispose();
    }
  });

  it('a 4-bit lm_head asked to run in the kernel fails in one line that names it', async () => {
    const four = tinyGguf(5, 256, { arch: 'llama', weightType: GgmlType.Q4_0, embedType: GgmlType.Q4_0 });
    await expect(openGguf(nodeRuntime, four.bytes, 'tiny-q4', { lmHead: 'kernel' })).rejects.toThrow("the lm_head kernel takes 8-bit lm_heads; tiny-q4's is");
  });

  it('a graph that ends at the final norm is refused without its lm_head', async () => {
    const cfg = tinyConfig();
    const graph = buildDecoderGraph(cfg, tinyWeights(cfg, 2), { style: 'genai', dtype: 'fp32', kv: 'rows', head: 'outside' });
    const meta = { modelId: 'h', hash: 'h', architecture: 'llama', heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab };
    await expect(openGraph(nodeRuntime, graph, meta, idTokenizer, { tail: { problem: 'not needed' } })).rejects.toThrow("ends at the final norm ('head_input') but was opened without its lm_head");
  });
});
