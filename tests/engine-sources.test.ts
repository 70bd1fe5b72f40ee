/**
 * Model sources other than a GGUF file: a local folder in transformers.js layout (optimum-style
 * fp16 tiny model; the real model exported with external data) and the hub path (served by a
 * fake fetch, since tests run offline).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportGgufAsFolder } from '../src/bench/export.js';
import { tinyConfig, tinyWeights } from '../src/testing/tiny.js';
import { buildDecoderGraph } from '../src/engine/onnx/decoder.js';
import { ReferenceModel } from '../src/testing/reference.js';
import { nodeRuntime } from '../src/engine/runtime/node.js';
import { urlSource } from '../src/engine/sources/files.js';
import { openFolder } from '../src/engine/sources/folder.js';
import { loadModel } from '../src/node/models.js';
import { modelInfo } from '../src/node/inspect.js';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';

const dir = mkdtempSync(join(tmpdir(), 'steerlab-src-'));

/** A tiny model folder: optimum-style fp16 graph, a WordLevel tokenizer over "t0".."t96". */
function writeTinyFolder(path: string) {
  const cfg = tinyConfig();
  const w = tinyWeights(cfg, 4);
  mkdirSync(join(path, 'onnx'), { recursive: true });
  writeFileSync(join(path, 'onnx', 'model_fp16.onnx'), buildDecoderGraph(cfg, w, { style: 'optimum', dtype: 'fp16' }));
  writeFileSync(join(path, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: cfg.hidden, num_hidden_layers: cfg.layers, num_attention_heads: cfg.heads, num_key_value_heads: cfg.kvHeads, head_dim: cfg.headDim, vocab_size: cfg.vocab, eos_token_id: 0 }));
  const vocab = Object.fromEntries(Array.from({ length: cfg.vocab }, (_, i) => [`t${i}`, i]));
  writeFileSync(join(path, 'tokenizer.json'), JSON.stringify({ version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: { type: 'WhitespaceSplit' }, post_processor: null, decoder: null, model: { type: 'WordLevel', vocab, unk_token: 't1' } }));
  writeFileSync(join(path, 'tokenizer_config.json'), JSON.stringify({ eos_token: 't0', unk_token: 't1', chat_template: "{% for m in messages %}{{ m.content }} {% endfor %}" }));
  return { cfg, w };
}

describe('model folders and the hub path', () => {
  it('a local folder (optimum export, fp16) loads, tokenizes and matches the reference', async () => {
    const path = join(dir, 'tiny-fp16');
    const { cfg, w } = writeTinyFolder(path);
    expect(modelInfo(path, 'fp16')).toMatchObject({ style: 'optimum', dtype: 'fp16', layers: cfg.layers, hidden: cfg.hidden });
    const s = await loadModel(path, { dtype: 'fp16' });
    expect(s.info).toMatchObject({ style: 'optimum', dtype: 'fp16', architecture: 'llama' });
    const ids = s.encode('t5 t17 t42 t8');
    expect(ids).toEqual([5, 17, 42, 8]);
    const r = await s.forward(s.newCache(), ids);
    const ref = new ReferenceModel(cfg, w);
    let last!: Float32Array;
    for (const id of ids) last = ref.step(id).logits;
    let d = 0;
    for (let i = 0; i < cfg.vocab; i++) d = Math.max(d, Math.abs(r.logits[i]! - last[i]!));
    expect(d).toBeLessThan(5e-2);
    await s.dispose();
  });

  it('a missing graph for the asked dtype is a clear MODEL_NOT_FOUND', async () => {
    const path = join(dir, 'tiny-fp16');
    await expect(loadModel(path, { dtype: 'q4' })).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringContaining('onnx/model_q4.onnx') });
  });

  it('the hub path fetches <base>/<id>/resolve/main/<file> and loads the same model', async () => {
    const path = join(dir, 'tiny-fp16');
    const requested: string[] = [];
    const fakeFetch = (async (url: string) => {
      requested.push(url);
      const rel = url.replace('https://hub.example/org/tiny/resolve/main/', '');
      try {
        return new Response(readFileSync(join(path, rel)));
      } catch {
        return new Response('not found', { status: 404 });
      }
    }) as typeof fetch;
    const s = await openFolder(nodeRuntime, urlSource('https://hub.example/org/tiny/resolve/main', fakeFetch), 'org/tiny', 'fp16');
    expect(requested).toContain('https://hub.example/org/tiny/resolve/main/onnx/model_fp16.onnx');
    expect(s.info.modelId).toBe('org/tiny');
    await s.dispose();
  });

  needsRealModel.it('the real model exported as a transformers.js folder (external data) loads through the folder path', async () => {
    const path = join(dir, 'smollm2');
    exportGgufAsFolder(new Uint8Array(readFileSync(REAL_MODEL)), path);
    const s = await loadModel(path);
    expect(s.info).toMatchObject({ style: 'genai', layers: 30, hidden: 576 });
    const r = await s.generate(s.encode('The capital of France is'), { maxNewTokens: 4 });
    r.cache.dispose();
    expect(r.text).toMatch(/Paris/);
    await s.dispose();
  });
});
