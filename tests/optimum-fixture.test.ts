/**
 * A real optimum export (tests/fixtures/optimum-tiny-llama, made by scripts/make-optimum-fixture.py):
 * a tiny random LlamaForCausalLM exported by optimum's exporter (torch.onnx, TorchScript), opened
 * through the folder loader and checked against torch's own float32 outputs: logits, the residual
 * after block 0, steering at blocks.0.hook_resid_post, and token-by-token cached decode.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { residPost } from '../src/engine/hook-points.js';
import { decodeModel } from '../src/engine/onnx/proto.js';
import { nodeRuntime } from '../src/engine/runtime/node.js';
import type { ModelSession } from '../src/engine/session.js';
import { openFolder } from '../src/engine/sources/folder.js';
import { folderSource } from '../src/node/models.js';

const DIR = join(import.meta.dirname, 'fixtures', 'optimum-tiny-llama');
/** Absolute tolerance on float32 outputs (torch vs onnxruntime; both float32 on CPU). */
const TOL = 1e-4;

interface Expected {
  producer: { name: string; version: string };
  prompt_ids: number[];
  prompt_text: string;
  decode_ids: number[];
  layer: number;
  hook: string;
  scale: number;
  steering_vector: number[];
  logits: number[];
  resid_post: number[];
  steered_logits: number[];
  decode_logits: number[];
  steered_decode_logits: number[];
}

const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Expected;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('optimum-exported tiny Llama against torch', () => {
  let s: ModelSession;
  const hook = residPost(expected.layer);
  const vector = Float32Array.from(expected.steering_vector);
  const steer = [{ hook, vector, scale: expected.scale, positions: 'all' as const }];

  beforeAll(async () => {
    s = await openFolder(nodeRuntime, folderSource(DIR), 'optimum-tiny-llama', 'fp32');
  });
  afterAll(async () => {
    await s?.dispose();
  });

  it("the folder's graph is the exporter's, unmodified, in one file", () => {
    const model = decodeModel(new Uint8Array(readFileSync(join(DIR, 'onnx', 'model.onnx'))));
    expect(model.producerName).toBe('pytorch');
    expect(model.producerName).toBe(expected.producer.name);
    const names = new Set(model.graph.node.map((n) => n.name));
    // torch.onnx (TorchScript) scope names, and the residual adds the hooks anchor on.
    for (const L of [0, 1]) {
      expect(names.has(`/model/layers.${L}/Add`)).toBe(true);
      expect(names.has(`/model/layers.${L}/Add_1`)).toBe(true);
      expect(names.has(`/model/layers.${L}/self_attn/o_proj/MatMul`)).toBe(true);
    }
    // Constant folding leaves transposed linears as torch's anonymous initializers.
    expect(model.graph.initializer.some((t) => t.name.startsWith('onnx::MatMul_'))).toBe(true);
    expect(model.graph.initializer.every((t) => !t.externalData?.length)).toBe(true);
    expect(model.graph.input.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value']);
    expect(model.graph.input.some((i) => i.name === 'steering')).toBe(false);
    expect(s.info).toMatchObject({ style: 'optimum', dtype: 'fp32', architecture: 'llama', layers: 2, hidden: 64, heads: 4, kvHeads: 2, headDim: 16, vocab: 100, maxPositions: 128 });
  });

  it("the tokenizers library's WordLevel tokenizer.json tokenizes as in Python", () => {
    expect(s.encode(expected.prompt_text)).toEqual(expected.prompt_ids);
    expect(s.tokenizer.eosIds).toContain(0);
    expect(s.decode(expected.decode_ids)).toBe(expected.decode_ids.map((i) => `t${i}`).join(' '));
  });

  it('unsteered logits and the residual after block 0 match torch', async () => {
    const cache = s.newCache();
    const r = await s.forward(cache, expected.prompt_ids, { read: { hooks: [hook], at: [expected.prompt_ids.length - 1] } });
    cache.dispose();
    const dLogits = maxAbs(r.logits, expected.logits);
    const dResid = maxAbs(r.acts.row(hook, 0), expected.resid_post);
    console.log(`optimum fixture: unsteered logits max |d| ${dLogits.toExponential(2)}, resid_post[0] max |d| ${dResid.toExponential(2)}`);
    expect(dLogits).toBeLessThan(TOL);
    expect(dResid).toBeLessThan(TOL);
  });

  it('steering at blocks.0.hook_resid_post matches a torch forward hook on model.layers[0]', async () => {
    const cache = s.newCache();
    const last = expected.prompt_ids.length - 1;
    const r = await s.forward(cache, expected.prompt_ids, { add: steer, read: { hooks: [hook], at: [last] } });
    cache.dispose();
    const d = maxAbs(r.logits, expected.steered_logits);
    const moved = maxAbs(expected.steered_logits, expected.logits);
    console.log(`optimum fixture: steered logits max |d| ${d.toExponential(2)} (steering moves them by up to ${moved.toFixed(3)})`);
    expect(d).toBeLessThan(TOL);
    expect(moved).toBeGreaterThan(1000 * TOL);
    // The hook reads after the addition: torch's unsteered residual there plus scale * v.
    const shifted = expected.resid_post.map((x, i) => x + expected.scale * vector[i]!);
    expect(maxAbs(r.acts.row(hook, 0), shifted)).toBeLessThan(TOL);
  });

  it('prefill then token-by-token cached decode matches one full torch forward', async () => {
    const V = 100;
    const n = expected.decode_ids.length + 1;
    for (const [add, want, label] of [
      [null, expected.decode_logits, 'unsteered'],
      [steer, expected.steered_decode_logits, 'steered'],
    ] as const) {
      const cache = s.newCache();
      const rows: Float32Array[] = [(await s.forward(cache, expected.prompt_ids, { add })).logits];
      for (const id of expected.decode_ids) rows.push((await s.forward(cache, [id], { region: 'generated', add })).logits);
      expect(cache.length).toBe(expected.prompt_ids.length + expected.decode_ids.length);
      cache.dispose();
      const got = new Float32Array(n * V);
      rows.forEach((r, i) => got.set(r, i * V));
      const d = maxAbs(got, want);
      console.log(`optimum fixture: ${label} cached decode (prefill ${expected.prompt_ids.length} + ${expected.decode_ids.length} steps) max |d| ${d.toExponential(2)}`);
      expect(d).toBeLessThan(TOL);
      // The engine's own one-chunk forward over all ids gives the same rows.
      const whole = s.newCache();
      const one = await s.forward(whole, [...expected.prompt_ids, ...expected.decode_ids], { add, logitsFor: n });
      whole.dispose();
      expect(maxAbs(one.logits, want)).toBeLessThan(TOL);
    }
  });
});
