/**
 * Opens a model in transformers.js layout (hub id or local folder): config.json,
 * tokenizer.json, tokenizer_config.json, onnx/model{suffix}.onnx and its external data files.
 */
import { SteerlabError } from '../../errors.js';
import { openGraph, type OpenOptions } from '../open.js';
import type { Runtime } from '../runtime/types.js';
import type { ModelSession } from '../session.js';
import { hfTokenizer } from '../text.js';
import { decodeModel } from '../onnx/proto.js';
import { sha256Hex, type FileSource } from './files.js';

/** transformers.js file suffixes per dtype (models/session_config.js). */
export const DTYPE_SUFFIX: Record<string, string> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

async function json(src: FileSource, name: string, required: boolean): Promise<Record<string, unknown> | null> {
  const b = await src.read(name);
  if (!b) {
    if (required) throw new SteerlabError('MODEL_NOT_FOUND', `${src.where} has no ${name}`);
    return null;
  }
  try {
    return JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;
  } catch (e) {
    throw new SteerlabError('BAD_ARGUMENT', `${src.where}/${name} is not valid JSON: ${(e as Error).message}`);
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export async function openFolder(runtime: Runtime, src: FileSource, modelId: string, dtype = 'fp32', opts: OpenOptions = {}): Promise<ModelSession> {
  const suffix = DTYPE_SUFFIX[dtype];
  if (suffix === undefined) throw new SteerlabError('BAD_ARGUMENT', `unknown dtype '${dtype}' (known: ${Object.keys(DTYPE_SUFFIX).join(', ')})`);
  const config = (await json(src, 'config.json', true))!;
  const tokJson = (await json(src, 'tokenizer.json', true))!;
  const tokConfig = (await json(src, 'tokenizer_config.json', false)) ?? {};
  const genConfig = (await json(src, 'generation_config.json', false)) ?? {};
  const graphName = `onnx/model${suffix}.onnx`;
  const graph = await src.read(graphName);
  if (!graph) throw new SteerlabError('MODEL_NOT_FOUND', `${src.where} has no ${graphName} (dtype ${dtype})`);
  // External weights: every distinct `location` the graph names must be supplied.
  const locations = new Set<string>();
  for (const t of decodeModel(graph).graph.initializer) {
    for (const kv of t.externalData ?? []) if (kv.key === 'location') locations.add(kv.value);
  }
  const externalData: { path: string; data: Uint8Array }[] = [];
  for (const loc of locations) {
    const data = await src.read(`onnx/${loc}`);
    if (!data) throw new SteerlabError('MODEL_NOT_FOUND', `${src.where} lacks onnx/${loc}, which ${graphName} needs`);
    externalData.push({ path: loc, data });
  }
  const n = (k: string) => Number(config[k]);
  const heads = n('num_attention_heads');
  const hidden = n('hidden_size');
  const eosCfg = genConfig.eos_token_id ?? config.eos_token_id;
  const extraEos = (Array.isArray(eosCfg) ? eosCfg : [eosCfg]).filter((x): x is number => typeof x === 'number');
  if (typeof config.chat_template !== 'string' && typeof tokConfig.chat_template !== 'string') {
    const tmpl = await src.read('chat_template.jinja');
    if (tmpl) tokConfig.chat_template = new TextDecoder().decode(tmpl);
  }
  const tokenizer = hfTokenizer(tokJson, tokConfig, extraEos);
  return openGraph(
    runtime,
    graph,
    {
      modelId,
      hash: await sha256Hex(graph),
      architecture: String(config.model_type ?? 'unknown'),
      heads,
      kvHeads: Number(config.num_key_value_heads ?? heads),
      headDim: Number(config.head_dim ?? hidden / heads),
      vocab: n('vocab_size'),
      ...(num(config.max_position_embeddings) ? { maxPositions: num(config.max_position_embeddings) } : {}),
    },
    tokenizer,
    {
      ...opts,
      externalData: externalData.length ? externalData : undefined,
      config: { rmsEps: num(config.rms_norm_eps), ropeTheta: num(config.rope_theta), maxPositions: num(config.max_position_embeddings) },
    },
  );
}
