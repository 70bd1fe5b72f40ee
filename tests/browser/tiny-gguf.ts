/**
 * A tiny random Llama as a complete GGUF file (weights plus a byte-level BPE tokenizer and a chat
 * template), so the browser tests can drive the real load path (File or URL -> parse -> convert
 * -> session -> generate) in a second instead of loading a 100 MB model. Its context is 8,192
 * positions (only the GGUF's context_length key; the rotary tables are built at load), because
 * the byte-level vocabulary spends one token per character and an agent's dialogue grows by
 * ~110 tokens a step.
 */
import { tinyConfig, tinyWeights } from '../../src/testing/tiny.js';
import { writeTinyGguf, type TinyGgufOptions } from '../../src/testing/tiny-gguf.js';
import type { Architecture, DecoderConfig, DecoderWeights } from '../../src/engine/model/types.js';
import { GgufValueType } from '../../src/engine/gguf/reader.js';
import { GgufTokenType } from '../../src/engine/gguf/tokenizer.js';

/** GPT-2's bytes_to_unicode: the printable character each byte is written as in the vocabulary. */
function byteTokens(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + extra++));
}

const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
export const TINY_EOS = 256 + 2;
const CHAT_TEMPLATE =
  "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

export interface TinyGguf {
  cfg: DecoderConfig;
  weights: DecoderWeights;
  bytes: Uint8Array;
}

/**
 * `maxPositions`: the context length the GGUF states (a small one tests the context limit);
 * `arch` and the weight types pick another architecture and quantisation (default llama, F32);
 * `embedScale` multiplies the (tied) embedding.
 */
export function tinyGguf(seed = 3, maxPositions = 8192, o: { arch?: Architecture; embedScale?: number } & Pick<TinyGgufOptions, 'weightType' | 'embedType'> = {}): TinyGguf {
  const tokens = [...byteTokens(), ...SPECIALS];
  const cfg = tinyConfig({ vocab: tokens.length, maxPositions }, o.arch);
  const weights = tinyWeights(cfg, seed);
  // Gemma multiplies the embedding by sqrt(hidden): with the default scale the residual is its
  // input token's row, and the tied lm_head predicts that token again with all the mass.
  if (o.embedScale !== undefined && weights.embed.kind === 'float') weights.embed.data.forEach((x, i, a) => (a[i] = x * o.embedScale!));
  const types = Int32Array.from(tokens, (_, i) => (i < 256 ? GgufTokenType.NORMAL : GgufTokenType.CONTROL));
  const bytes = writeTinyGguf(cfg, weights, {
    weightType: o.weightType,
    embedType: o.embedType,
    metadata: [
      ['tokenizer.ggml.model', 'gpt2'],
      ['tokenizer.ggml.pre', 'gpt2'],
      ['tokenizer.ggml.tokens', tokens, { array: GgufValueType.STRING }],
      ['tokenizer.ggml.token_type', types],
      ['tokenizer.ggml.merges', [], { array: GgufValueType.STRING }],
      ['tokenizer.ggml.bos_token_id', 256, GgufValueType.UINT32],
      ['tokenizer.ggml.eos_token_id', TINY_EOS, GgufValueType.UINT32],
      ['tokenizer.chat_template', CHAT_TEMPLATE],
    ],
  });
  return { cfg, weights, bytes };
}
