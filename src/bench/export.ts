/**
 * Writes a GGUF-converted model as a transformers.js folder (config.json, tokenizer files,
 * onnx/model.onnx without hooks) so transformers.js itself can load it: the benchmark's
 * baseline for generate(), and a way to inspect our conversion with other tools.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ggufToHfTokenizer } from '../engine/gguf/tokenizer.js';
import { ggufToGraph } from '../engine/sources/gguf.js';
import { EXTERNAL_DATA_NAME } from '../engine/onnx/decoder.js';

export function exportGgufAsFolder(bytes: Uint8Array, dir: string): void {
  // Whole present.* outputs, as transformers.js (and every other runner) expects of a decoder.
  const { file, cfg, graph, data } = ggufToGraph(bytes, { kv: 'present' });
  const { tokenizerJson, tokenizerConfig } = ggufToHfTokenizer(file);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  const eos = file.metadata.get('tokenizer.ggml.eos_token_id');
  const config = {
    model_type: cfg.architecture,
    architectures: [cfg.architecture === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    hidden_size: cfg.hidden,
    intermediate_size: cfg.intermediate,
    num_hidden_layers: cfg.layers,
    num_attention_heads: cfg.heads,
    num_key_value_heads: cfg.kvHeads,
    head_dim: cfg.headDim,
    vocab_size: cfg.vocab,
    rms_norm_eps: cfg.rmsEps,
    rope_theta: cfg.ropeTheta,
    max_position_embeddings: cfg.maxPositions,
    tie_word_embeddings: true,
    eos_token_id: typeof eos === 'number' ? eos : undefined,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: config.eos_token_id }));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  writeFileSync(join(dir, 'onnx', 'model.onnx'), graph);
  writeFileSync(join(dir, 'onnx', EXTERNAL_DATA_NAME), data);
}
