/**
 * Rebuild a Hugging Face tokenizer.json / tokenizer_config.json pair from GGUF metadata, so the
 * GGUF file alone is enough to tokenize (transformers.js reads these objects directly).
 *
 * Supported: tokenizer.ggml.model "gpt2" (byte-level BPE) with tokenizer.ggml.pre "smollm",
 * "gpt2", "llama-bpe" (also "llama3" / "llama-v3"), "qwen2" and "default" (llama.cpp's default
 * regexes, also used when the key is missing, with llama.cpp's warning); and "llama"
 * (SentencePiece BPE with scores: Llama 2, Gemma), see spmModel below. The other llama.cpp vocab
 * types (bert, t5, rwkv, ...) throw UNSUPPORTED_TOKENIZER.
 *
 * The split regexes are the ones in the models' own tokenizer.json files; llama.cpp's
 * llama-vocab.cpp lists the same patterns ("original regex from tokenizer.json"), with (?i:...)
 * spelled out as character classes for its own regex engine.
 */
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import { SteerlabError } from '../../errors.js';
import type { GgufFile, GgufValue } from './reader';

/** llama.cpp's llama_token_type. */
export const GgufTokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export type JsonObject = Record<string, unknown>;

export interface HfTokenizerFiles {
  tokenizerJson: JsonObject;
  tokenizerConfig: JsonObject;
}

// Split patterns copied from Llama-3's and Qwen2's tokenizer.json (Oniguruma syntax, as HF stores them).
const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT (llama-vocab.cpp): four regexes applied in turn, each
// isolating its matches (the text between matches stays a piece of its own).
export const DEFAULT_BPE_SPLITS = [
  '[\\p{P}\\$\\+<=>\\^~\\|]+',
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
  '\\p{N}+',
  '[0-9][0-9][0-9]',
];

const byteLevel = (useRegex: boolean, trimOffsets = true): JsonObject => ({
  type: 'ByteLevel',
  add_prefix_space: false,
  trim_offsets: trimOffsets,
  use_regex: useRegex,
});
const split = (regex: string): JsonObject => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });

interface PreTokenizerSpec {
  normalizer: JsonObject | null;
  preTokenizer: JsonObject;
  /** llama.cpp's ignore_merges: a whole pre-token found in the vocab is emitted as is. */
  ignoreMerges: boolean;
  /** llama.cpp's add_bos default for this pre type (tokenizer.ggml.add_bos_token overrides). */
  addBosDefault: boolean;
}

function preTokenizerFor(pre: string): PreTokenizerSpec {
  switch (pre) {
    case 'smollm':
      // Every digit is its own pre-token, then GPT-2's ByteLevel split. SmolLM2's tokenizer.json
      // says Digits{individual_digits: true}, which HF's Rust tokenizers applies to every Unicode
      // number (char::is_numeric), like llama.cpp's "\p{N}"; transformers.js implements Digits
      // with an ASCII-only \d, so superscripts or Arabic-Indic digits would tokenize differently
      // there. The equivalent Split on \p{N} behaves the same in all three.
      return {
        normalizer: null,
        preTokenizer: { type: 'Sequence', pretokenizers: [split('\\p{N}'), byteLevel(true)] },
        ignoreMerges: false,
        addBosDefault: false,
      };
    case 'gpt2':
      return { normalizer: null, preTokenizer: byteLevel(true), ignoreMerges: false, addBosDefault: false };
    case 'llama-bpe':
    case 'llama3':
    case 'llama-v3':
      return {
        normalizer: null,
        preTokenizer: { type: 'Sequence', pretokenizers: [split(LLAMA3_SPLIT), byteLevel(false)] },
        ignoreMerges: true,
        addBosDefault: true,
      };
    case 'qwen2':
      // Qwen2's tokenizer.json NFC-normalizes first (llama.cpp skips that step).
      return {
        normalizer: { type: 'NFC' },
        preTokenizer: { type: 'Sequence', pretokenizers: [split(QWEN2_SPLIT), byteLevel(false, false)] },
        ignoreMerges: false,
        addBosDefault: false,
      };
    case 'default':
      return {
        normalizer: null,
        preTokenizer: { type: 'Sequence', pretokenizers: [...DEFAULT_BPE_SPLITS.map(split), byteLevel(false)] },
        ignoreMerges: false,
        addBosDefault: false,
      };
    default:
      throw new SteerlabError(
        'UNSUPPORTED_TOKENIZER',
        `GGUF pre-tokenizer "${pre}" is not supported (supported: smollm, gpt2, llama-bpe, qwen2, default)`,
      );
  }
}

type Meta = Map<string, GgufValue>;

function corrupt(msg: string): never {
  throw new SteerlabError('GGUF_CORRUPT', `GGUF tokenizer: ${msg}`);
}

function getString(meta: Meta, key: string): string | undefined {
  const v = meta.get(key);
  if (v === undefined || typeof v === 'string') return v;
  return corrupt(`${key} should be a string`);
}

function getBool(meta: Meta, key: string): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined || typeof v === 'boolean') return v;
  return corrupt(`${key} should be a bool`);
}

function getStrings(meta: Meta, key: string): string[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  return corrupt(`${key} should be an array of strings`);
}

function getTokenId(meta: Meta, key: string, nTokens: number): number | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  const id = typeof v === 'bigint' ? Number(v) : v;
  if (typeof id !== 'number' || !Number.isInteger(id)) return corrupt(`${key} should be an integer token id`);
  // llama.cpp writes -1 (as int32) or leaves the key out for "no such token".
  if (id < 0) return undefined;
  if (id >= nTokens) return corrupt(`${key} = ${id} is outside the ${nTokens}-token vocabulary`);
  return id;
}

/**
 * Build tokenizer.json and tokenizer_config.json objects from a parsed GGUF (or its metadata map).
 * Throws UNSUPPORTED_TOKENIZER for tokenizer models / pre-tokenizers we do not handle and
 * GGUF_CORRUPT for inconsistent tokenizer metadata.
 */
/** tokenizer_config key (steerlab's own) with the extra end-of-generation ids; text.ts reads it. */
export const EOG_CONFIG_KEY = 'steerlab_eog_ids';
const EOG_TEXTS = ['<end_of_turn>', '<|eot_id|>', '<|im_end|>', '<|end|>', '<|eom_id|>', '<EOT>', '_<EOT>', '<end_of_utterance>', '</s>'];

/** Where the converter says things the user should know (llama.cpp prints the same warnings). */
export type TokenizerWarn = (message: string) => void;
const defaultWarn: TokenizerWarn = (m) => console.warn(`steerlab: ${m}`);

export function ggufToHfTokenizer(source: GgufFile | Meta, opts: { warn?: TokenizerWarn } = {}): HfTokenizerFiles {
  const meta: Meta = source instanceof Map ? source : source.metadata;
  const warn = opts.warn ?? defaultWarn;
  const model = getString(meta, 'tokenizer.ggml.model');
  if (model === undefined) throw new SteerlabError('UNSUPPORTED_TOKENIZER', 'GGUF has no tokenizer (tokenizer.ggml.model is missing)');
  if (model !== 'gpt2' && model !== 'llama') {
    throw new SteerlabError(
      'UNSUPPORTED_TOKENIZER',
      `GGUF tokenizer model "${model}" is not supported; only byte-level BPE ("gpt2") and SentencePiece ("llama") are`,
    );
  }
  const spm = model === 'llama';
  let spec: PreTokenizerSpec;
  if (spm) {
    spec = { normalizer: null, preTokenizer: null as unknown as JsonObject, ignoreMerges: false, addBosDefault: true };
  } else {
    let pre = getString(meta, 'tokenizer.ggml.pre');
    if (pre === undefined) {
      warn("GGUF has no tokenizer.ggml.pre; using llama.cpp's 'default' pre-tokenizer regexes, as llama.cpp does (it warns: generation quality will be degraded; consider regenerating the GGUF)");
      pre = 'default';
    } else if (pre === 'default') {
      warn("GGUF pre-tokenizer 'default': splitting with llama.cpp's default regexes, which may not be this model's own pre-tokenizer");
    }
    spec = preTokenizerFor(pre);
  }

  const tokens = getStrings(meta, 'tokenizer.ggml.tokens') ?? corrupt('tokenizer.ggml.tokens is missing');
  const types = meta.get('tokenizer.ggml.token_type');
  if (types !== undefined && !(types instanceof Int32Array || types instanceof Uint32Array) ) {
    corrupt('tokenizer.ggml.token_type should be an int32 array');
  }
  if (types !== undefined && types.length !== tokens.length) {
    corrupt(`tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`);
  }

  // Null-prototype object: a token literally named "__proto__" must stay an ordinary key.
  // Like llama.cpp's token_to_id, a duplicated token string maps to its last id.
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  tokens.forEach((t, id) => {
    vocab[t] = id;
  });

  let merges: string[][];
  if (spm) {
    merges = spmMerges(tokens, spmScores(meta, tokens.length), vocab);
  } else {
    const mergeStrings = getStrings(meta, 'tokenizer.ggml.merges') ?? corrupt('tokenizer.ggml.merges is missing');
    merges = mergeStrings.map((m, i) => {
      // llama.cpp splits at the first space after position 0 (a merge may start with a space).
      const at = m.indexOf(' ', 1);
      if (at < 0) corrupt(`merge #${i} "${m}" has no separating space`);
      return [m.slice(0, at), m.slice(at + 1)];
    });
  }

  // CONTROL tokens are special (matched whole, skipped by skip_special_tokens); USER_DEFINED ones
  // are matched whole but are ordinary text. llama.cpp stores both un-normalized.
  const addedTokens: JsonObject[] = [];
  if (types) {
    for (let id = 0; id < tokens.length; id++) {
      const t = types[id];
      if (t !== GgufTokenType.CONTROL && t !== GgufTokenType.USER_DEFINED) continue;
      if (tokens[id] === '') continue; // an empty added token would match everywhere
      addedTokens.push({
        id,
        content: tokens[id],
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: t === GgufTokenType.CONTROL,
      });
    }
  }

  const bos = getTokenId(meta, 'tokenizer.ggml.bos_token_id', tokens.length);
  const eos = getTokenId(meta, 'tokenizer.ggml.eos_token_id', tokens.length);
  const unk = getTokenId(meta, 'tokenizer.ggml.unknown_token_id', tokens.length);
  const pad = getTokenId(meta, 'tokenizer.ggml.padding_token_id', tokens.length);
  const addBos = getBool(meta, 'tokenizer.ggml.add_bos_token') ?? spec.addBosDefault;
  const addSpacePrefix = spm && (getBool(meta, 'tokenizer.ggml.add_space_prefix') ?? true);
  const addEos = getBool(meta, 'tokenizer.ggml.add_eos_token') ?? false;
  if (addBos && bos === undefined) corrupt('add_bos_token is set but there is no bos_token_id');
  if (addEos && eos === undefined) corrupt('add_eos_token is set but there is no eos_token_id');

  const tokenizerJson: JsonObject = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: spm ? spmNormalizer(addSpacePrefix) : spec.normalizer,
    pre_tokenizer: spm ? null : spec.preTokenizer,
    post_processor: postProcessor(addBos ? [tokens[bos!]!, bos!] : null, addEos ? [tokens[eos!]!, eos!] : null, !spm),
    decoder: spm ? spmDecoder(addSpacePrefix) : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      // Byte-level BPE covers every byte, so there is never an unknown piece; SentencePiece falls
      // back to <0xNN> byte tokens (llama.cpp's resegment), then to <unk>.
      unk_token: spm && unk !== undefined ? tokens[unk] : null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: spm,
      byte_fallback: spm,
      ignore_merges: spec.ignoreMerges,
      vocab,
      merges,
    },
  };

  // llama.cpp ends generation at more than eos: the eot/eom ids and turn-end markers it finds by
  // text (Gemma's <end_of_turn> and </s>). Its list also has <|endoftext|>, and it adds the FIM
  // tokens; both are left out here: for SmolLM2 (eos <|im_end|>) they would change where
  // generation stops.
  const eog = new Set<number>();
  for (const key of ['tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']) {
    const id = getTokenId(meta, key, tokens.length);
    if (id !== undefined) eog.add(id);
  }
  for (const text of EOG_TEXTS) if (vocab[text] !== undefined) eog.add(vocab[text]!);
  if (eos !== undefined) eog.delete(eos);

  const tokenizerConfig: JsonObject = {
    tokenizer_class: spm ? 'PreTrainedTokenizer' : 'GPT2Tokenizer',
    bos_token: bos === undefined ? null : tokens[bos],
    eos_token: eos === undefined ? null : tokens[eos],
    unk_token: unk === undefined ? null : tokens[unk],
    pad_token: pad === undefined ? null : tokens[pad],
    add_bos_token: addBos,
    add_eos_token: addEos,
    // llama.cpp detokenizes verbatim; HF's clean-up would turn " ." into "." and break round trips.
    clean_up_tokenization_spaces: false,
  };
  if (eog.size) tokenizerConfig[EOG_CONFIG_KEY] = [...eog].sort((a, b) => a - b);
  const arch = getString(meta, 'general.architecture');
  const ctx = arch ? meta.get(`${arch}.context_length`) : undefined;
  if (typeof ctx === 'number' || typeof ctx === 'bigint') tokenizerConfig.model_max_length = Number(ctx);
  const chatTemplate = chatTemplates(meta);
  if (chatTemplate !== undefined) tokenizerConfig.chat_template = chatTemplate;
  return { tokenizerJson, tokenizerConfig };
}

/**
 * SentencePiece as llama.cpp's llm_tokenizer_spm runs it: the text (after ' ' -> '▁', with a
 * leading '▁' when add_space_prefix and at the start or after a special token) is split into
 * characters, then the adjacent pair whose concatenation is a vocabulary token with the highest
 * score is merged, again and again; what is left outside the vocabulary becomes <0xNN> byte
 * tokens. As an HF BPE model that is: merges = every (a, b) whose concatenation is a token, a and
 * b being tokens or single characters, ranked by the concatenation's score (higher first). Where
 * two different tokens tie on score and overlap, llama.cpp takes the leftmost and BPE the lower
 * rank (here: the lower token id); the oracle tests (tests/llamacpp-oracle.test.ts) found no case.
 */
export function spmMerges(tokens: string[], scores: Float32Array, vocab: Record<string, number>): string[][] {
  // One code point, possibly a surrogate pair.
  const isChar = (x: string) => x.length === 1 || (x.length === 2 && x.codePointAt(0)! > 0xffff);
  const known = new Set(tokens); // a Set looks strings up faster than the (dictionary-mode) vocab object
  const isPiece = (x: string) => isChar(x) || known.has(x);
  // Higher score first, then lower id; the splits of one token stay left to right.
  const byScore = Int32Array.from(tokens.keys()).sort((x, y) => scores[y]! - scores[x]! || x - y);
  const merges: string[][] = [];
  for (const id of byScore) {
    const t = tokens[id]!;
    if (t.length < 2 || vocab[t] !== id) continue; // a duplicate string: llama.cpp's text_to_token finds the last id
    for (let at = 0; at < t.length; ) {
      at += t.codePointAt(at)! > 0xffff ? 2 : 1;
      if (at >= t.length) break;
      const a = t.slice(0, at), b = t.slice(at);
      if (isPiece(a) && isPiece(b)) merges.push([a, b]);
    }
  }
  return merges;
}

function spmScores(meta: Meta, n: number): Float32Array {
  const v = meta.get('tokenizer.ggml.scores');
  if (v === undefined) return new Float32Array(n); // llama.cpp: score 0 for every token
  if (!(v instanceof Float32Array)) return corrupt('tokenizer.ggml.scores should be a float32 array');
  if (v.length !== n) return corrupt(`tokenizer.ggml.scores has ${v.length} entries for ${n} tokens`);
  return v;
}

function spmNormalizer(addSpacePrefix: boolean): JsonObject {
  // HF normalises each stretch between added tokens, so the prefix lands at the start and after
  // every special token, as llama.cpp's is_prev_special does.
  const replace = { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' };
  return addSpacePrefix ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, replace] } : replace;
}

function spmDecoder(addSpacePrefix: boolean): JsonObject {
  const steps: JsonObject[] = [
    { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
  ];
  if (addSpacePrefix) steps.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
  return { type: 'Sequence', decoders: steps };
}

function postProcessor(bos: [string, number] | null, eos: [string, number] | null, byteLevel = true): JsonObject | null {
  if (bos === null && eos === null) {
    if (!byteLevel) return null;
    // What byte-level models without BOS ship (SmolLM2, GPT-2): only adjusts offsets.
    return { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true };
  }
  // HF's TemplateProcessing: SpecialToken ids are token strings, resolved through special_tokens.
  const special = (t: [string, number]): JsonObject => ({ SpecialToken: { id: t[0], type_id: 0 } });
  const seq = (id: 'A' | 'B'): JsonObject => ({ Sequence: { id, type_id: 0 } });
  const single: JsonObject[] = [], pair: JsonObject[] = [];
  if (bos) single.push(special(bos));
  single.push(seq('A'));
  if (eos) single.push(special(eos));
  pair.push(...single);
  if (bos) pair.push(special(bos));
  pair.push(seq('B'));
  if (eos) pair.push(special(eos));
  const specialTokens: JsonObject = Object.create(null) as JsonObject;
  for (const t of [bos, eos]) if (t) specialTokens[t[0]] = { id: t[0], ids: [t[1]], tokens: [t[0]] };
  return { type: 'TemplateProcessing', single, pair, special_tokens: specialTokens };
}

/**
 * tokenizer.chat_template, plus named variants tokenizer.chat_template.<name> (e.g. tool_use),
 * which HF represents as a list of {name, template} with the plain one named "default".
 */
function chatTemplates(meta: Meta): string | Array<{ name: string; template: string }> | undefined {
  const main = getString(meta, 'tokenizer.chat_template');
  const named: Array<{ name: string; template: string }> = [];
  for (const key of meta.keys()) {
    if (!key.startsWith('tokenizer.chat_template.')) continue;
    named.push({ name: key.slice('tokenizer.chat_template.'.length), template: getString(meta, key)! });
  }
  if (named.length === 0) return main;
  return main === undefined ? named : [{ name: 'default', template: main }, ...named];
}

/**
 * A transformers.js tokenizer from in-memory tokenizer.json / tokenizer_config.json objects.
 * Async because @huggingface/transformers is loaded on demand: building the JSON (above) must not
 * pull the whole inference library into a converter or a worker that only needs the objects.
 */
export async function loadTokenizer(tokenizerJson: JsonObject, tokenizerConfig: JsonObject): Promise<PreTrainedTokenizer> {
  const { PreTrainedTokenizer } = await import('@huggingface/transformers');
  return new PreTrainedTokenizer(tokenizerJson, tokenizerConfig);
}

/** Convenience: GGUF metadata straight to a transformers.js tokenizer. */
export async function tokenizerFromGguf(source: GgufFile | Meta): Promise<PreTrainedTokenizer> {
  const { tokenizerJson, tokenizerConfig } = ggufToHfTokenizer(source);
  return loadTokenizer(tokenizerJson, tokenizerConfig);
}
