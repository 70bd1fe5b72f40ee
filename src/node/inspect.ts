/** Cheap model inspection without building a session: `model info` and `tokenize`. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SteerlabError } from '../errors.js';
import { parseGguf } from '../engine/gguf/reader.js';
import { ggmlTypeName } from '../engine/gguf/quant.js';
import { detectStyle, countLayers } from '../engine/onnx/hooks.js';
import { decodeModel, elemTypeOf, DT } from '../engine/onnx/proto.js';
import { ggufConfig } from '../engine/sources/convert.js';
import { ggufTokenizer } from '../engine/sources/gguf.js';
import { hfTokenizer } from '../engine/text.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import { modelPath } from './models.js';
import { DTYPE_SUFFIX } from '../engine/sources/folder.js';

export interface ModelSummary {
  architecture: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  style: string;
  dtype: string;
  weightTypes?: Record<string, number>;
  source: string;
}

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;

export function modelInfo(spec: string, dtype = 'fp32'): ModelSummary {
  const p = modelPath(spec);
  if (p.toLowerCase().endsWith('.gguf')) {
    if (!existsSync(p)) throw new SteerlabError('MODEL_NOT_FOUND', `no such file: ${p}`);
    const f = parseGguf(new Uint8Array(readFileSync(p)));
    const cfg = ggufConfig(f);
    const weightTypes: Record<string, number> = {};
    for (const t of f.tensors) weightTypes[ggmlTypeName(t.type)] = (weightTypes[ggmlTypeName(t.type)] ?? 0) + 1;
    // The converter emits genai-style graphs with fp32 activations; weights keep their quantisation.
    return { architecture: cfg.architecture, layers: cfg.layers, hidden: cfg.hidden, heads: cfg.heads, kvHeads: cfg.kvHeads, vocab: cfg.vocab, style: 'genai', dtype: 'fp32', weightTypes, source: 'gguf' };
  }
  if (existsSync(p) && statSync(p).isDirectory()) {
    const cfg = readJson(join(p, 'config.json'));
    const graphPath = join(p, 'onnx', `model${DTYPE_SUFFIX[dtype] ?? ''}.onnx`);
    if (!existsSync(graphPath)) throw new SteerlabError('MODEL_NOT_FOUND', `no ${graphPath}`);
    const model = decodeModel(new Uint8Array(readFileSync(graphPath)));
    const past = model.graph.input.find((i) => i.name === 'past_key_values.0.key');
    const heads = Number(cfg.num_attention_heads);
    return {
      architecture: String(cfg.model_type),
      layers: countLayers(model),
      hidden: Number(cfg.hidden_size),
      heads,
      kvHeads: Number(cfg.num_key_value_heads ?? heads),
      vocab: Number(cfg.vocab_size),
      style: detectStyle(model),
      dtype: past && elemTypeOf(past) === DT.FLOAT16 ? 'fp16' : 'fp32',
      source: 'folder',
    };
  }
  throw new SteerlabError('MODEL_NOT_FOUND', `'${spec}' is not a .gguf file or a model folder (hub ids need a download: use generate)`);
}

/** The tokenizer alone; a GGUF holding only a vocabulary is enough. */
export function loadTokenizerOnly(spec: string): Tokenizer {
  const p = modelPath(spec);
  if (p.toLowerCase().endsWith('.gguf')) {
    if (!existsSync(p)) throw new SteerlabError('MODEL_NOT_FOUND', `no such file: ${p}`);
    return ggufTokenizer(parseGguf(new Uint8Array(readFileSync(p))));
  }
  if (existsSync(p) && statSync(p).isDirectory()) {
    const cfgPath = join(p, 'tokenizer_config.json');
    return hfTokenizer(readJson(join(p, 'tokenizer.json')), existsSync(cfgPath) ? readJson(cfgPath) : {});
  }
  throw new SteerlabError('MODEL_NOT_FOUND', `'${spec}' is not a .gguf file or a model folder`);
}
