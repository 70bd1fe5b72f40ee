/**
 * Adapts a transformers.js tokenizer (built from tokenizer.json + tokenizer_config.json, whether
 * downloaded or generated from a GGUF vocabulary) to the engine's Tokenizer interface.
 */
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { SteerlabError } from '../errors.js';
import type { ChatMessage, Tokenizer } from './tokenizer.js';

export function hfTokenizer(tokenizerJson: object, tokenizerConfig: Record<string, unknown>, extraEos: number[] = []): Tokenizer {
  let tok: PreTrainedTokenizer;
  const { json, release } = transientTables(tokenizerJson);
  try {
    tok = new PreTrainedTokenizer(json, tokenizerConfig);
  } catch (e) {
    throw new SteerlabError('UNSUPPORTED_TOKENIZER', `tokenizer could not be built: ${(e as Error).message}`);
  }
  release();
  const t = tok as unknown as {
    eos_token_id?: number | null;
    bos_token_id?: number | null;
    encode(text: string, o: { add_special_tokens: boolean }): number[];
    decode(ids: number[], o: { skip_special_tokens: boolean }): string;
    apply_chat_template(m: ChatMessage[], o: { tokenize: false; add_generation_prompt: boolean }): string;
    all_special_tokens?: string[];
  };
  // End-of-generation ids beyond eos that the GGUF converter found (gguf/tokenizer.ts, 'steerlab_eog_ids').
  const eog = Array.isArray(tokenizerConfig.steerlab_eog_ids) ? (tokenizerConfig.steerlab_eog_ids as unknown[]) : [];
  const eos = [t.eos_token_id, ...extraEos, ...eog].filter((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0);
  return {
    encode: (text, addSpecial = false) => t.encode(text, { add_special_tokens: addSpecial }),
    decode: (ids) => t.decode(ids, { skip_special_tokens: false }),
    applyChatTemplate: (messages, addGenerationPrompt = true) => {
      try {
        return t.apply_chat_template(messages, { tokenize: false, add_generation_prompt: addGenerationPrompt });
      } catch (e) {
        throw new SteerlabError('UNSUPPORTED_TOKENIZER', `chat template failed: ${(e as Error).message}`);
      }
    },
    eosIds: [...new Set(eos)],
    bosId: typeof t.bos_token_id === 'number' ? t.bos_token_id : null,
    specialTokens: (t.all_special_tokens ?? []).filter((x) => x.length > 0),
  };
}

/**
 * The library keeps the tokenizer.json it was built from, but reads a BPE model's `vocab` and
 * `merges` only while building (into its own maps). It gets shallow copies of those two, emptied
 * once it is built, so they are not held twice: Gemma 3's 262k-entry vocabulary and 515k merges
 * took 113 MiB of JS heap, 66 MiB without them. The caller's object is left as it was.
 */
function transientTables(tokenizerJson: object): { json: object; release: () => void } {
  const model = (tokenizerJson as { model?: { type?: string; vocab?: unknown; merges?: unknown } }).model;
  if (model?.type !== 'BPE' || !Array.isArray(model.merges) || typeof model.vocab !== 'object' || model.vocab === null) return { json: tokenizerJson, release: () => {} };
  const own = { ...model, merges: model.merges.slice() };
  return {
    json: { ...tokenizerJson, model: own },
    release: () => {
      own.merges.length = 0;
      own.vocab = {};
    },
  };
}
