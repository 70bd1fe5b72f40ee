/**
 * SentencePiece GGUF vocabularies (tokenizer.ggml.model "llama") and the BPE 'default'
 * pre-tokenizer, on small made-up vocabularies, against llama.cpp's own tokenizer (node-llama-cpp,
 * vocab-only). The real vocabularies (Gemma 3, SmolLM2) are in tests/llamacpp-oracle.test.ts.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { GgufValueType, type GgufValue } from '../src/engine/gguf/reader.js';
import { ggufToHfTokenizer, spmMerges, GgufTokenType } from '../src/engine/gguf/tokenizer.js';
import { writeGguf, type GgufMetadataEntry } from '../src/engine/gguf/writer.js';
import { parseGguf } from '../src/engine/gguf/reader.js';
import { ggufTokenizer } from '../src/engine/sources/gguf.js';
import { hfTokenizer } from '../src/engine/text.js';
import { cleanupOracleFiles, loadInLlamaCpp, oracle } from './helpers/llamacpp.js';

const U32 = GgufValueType.UINT32;
const HPARAMS: GgufMetadataEntry[] = [
  ['general.architecture', 'llama'], ['llama.block_count', 1, U32], ['llama.context_length', 64, U32], ['llama.embedding_length', 64, U32],
  ['llama.feed_forward_length', 64, U32], ['llama.attention.head_count', 4, U32], ['llama.attention.layer_norm_rms_epsilon', 1e-5, GgufValueType.FLOAT32],
];

// Gemma's chat format, shortened.
const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => ((a = (Math.imul(a, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** <unk> <s> </s> <0x00..FF>, every substring of some words with made-up distinct scores, a user-defined and a control token. */
function spmVocab(addSpacePrefix: boolean | undefined): Uint8Array {
  const words = ['▁the', '▁hello', '▁world', '▁token', 'izer', 'ing', '▁abc', 'abcab', '▁12', '345', '日本語', '▁é', '\n\n', '▁▁'];
  const pieces = new Set<string>();
  for (const w of words) {
    const c = [...w];
    for (let i = 0; i < c.length; i++) for (let j = i + 1; j <= c.length; j++) pieces.add(c.slice(i, j).join(''));
  }
  const r = rng(7);
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const tokens = ['<unk>', '<s>', '</s>', ...bytes, ...pieces, '<start_of_turn>', '<end_of_turn>', '<tool>', '<ctl>'];
  const types = new Int32Array(tokens.length).fill(GgufTokenType.NORMAL);
  types[0] = GgufTokenType.UNKNOWN;
  types[1] = types[2] = types[tokens.length - 1] = types[tokens.length - 3] = types[tokens.length - 4] = GgufTokenType.CONTROL;
  types.fill(GgufTokenType.BYTE, 3, 259);
  types[tokens.length - 2] = GgufTokenType.USER_DEFINED;
  const scores = Float32Array.from(tokens, (_, i) => (i < 259 ? 0 : -10 * r()));
  return writeGguf({
    metadata: [
      ...HPARAMS,
      ['tokenizer.ggml.model', 'llama'], ['tokenizer.ggml.tokens', tokens], ['tokenizer.ggml.scores', scores], ['tokenizer.ggml.token_type', types],
      ['tokenizer.ggml.bos_token_id', 1, U32], ['tokenizer.ggml.eos_token_id', 2, U32], ['tokenizer.ggml.unknown_token_id', 0, U32],
      ...(addSpacePrefix === undefined ? [] : [['tokenizer.ggml.add_space_prefix', addSpacePrefix] as GgufMetadataEntry]),
      ['tokenizer.chat_template', CHAT_TEMPLATE],
    ],
  });
}

const SPM_CORPUS = [
  'the hello world', 'hello  world', 'tokenizer tokenizing', 'abcabcab abc', '日本語 text 日本', 'é ü ñ', ' leading', 'trailing ', '  ',
  'x<tool>y', '<tool> the', 'the<ctl>hello', '<ctl>', '\n\nthe\n\n\nhello', '12345 123', 'abcab'.repeat(9), '🙂 emoji',
];

afterAll(async () => {
  cleanupOracleFiles();
  await (await oracle()).dispose();
});

describe.each([
  { prefix: undefined, name: 'add_space_prefix absent (llama.cpp default: true)' },
  { prefix: true, name: 'add_space_prefix true (Llama 2)' },
  { prefix: false, name: 'add_space_prefix false (Gemma)' },
])('SentencePiece, $name', ({ prefix }) => {
  it('ids equal llama.cpp on text, whitespace, unknown characters and special tokens; decode round-trips', async () => {
    const bytes = spmVocab(prefix);
    const ours = ggufTokenizer(parseGguf(bytes));
    const lm = await loadInLlamaCpp(bytes, { vocabOnly: true });
    try {
      for (const text of SPM_CORPUS) {
        const want = Array.from(lm.tokenize(text, true));
        expect(ours.encode(text), JSON.stringify(text)).toEqual(want);
        // BOS comes from the GGUF; llama.cpp puts it first when add_special is set.
        expect(ours.encode(text, true)).toEqual([1, ...want]);
        if (!text.includes('<ctl>') && want.length) expect(ours.decode(want)).toBe(lm.detokenize(want, true));
      }
      // Generation ends where llama.cpp's does: eos and <end_of_turn>.
      const n = (parseGguf(bytes).metadata.get('tokenizer.ggml.tokens') as string[]).length;
      const eog = Array.from({ length: n }, (_, i) => i).filter((i) => lm.isEogToken(i as never));
      expect([...ours.eosIds].sort((a, b) => a - b)).toEqual(eog);
      expect(ours.eosIds).toContain(ours.encode('<end_of_turn>')[0]);
      // The chat template renders through transformers.js; its special tokens are matched whole.
      const prompt = ours.applyChatTemplate([{ role: 'user', content: 'hello world' }, { role: 'assistant', content: 'the token' }, { role: 'user', content: 'é?' }]);
      expect(prompt).toBe('<s><start_of_turn>user\nhello world<end_of_turn>\n<start_of_turn>model\nthe token<end_of_turn>\n<start_of_turn>user\né?<end_of_turn>\n<start_of_turn>model\n');
      expect(ours.encode(prompt)).toEqual(Array.from(lm.tokenize(prompt, true)));
    } finally {
      await lm.dispose();
    }
  }, 30_000);
});

describe('hfTokenizer', () => {
  it("leaves the caller's tokenizer.json as it was (it empties only its own copies of the vocabulary and merges)", () => {
    const { tokenizerJson, tokenizerConfig } = ggufToHfTokenizer(parseGguf(spmVocab(false)));
    const model = (tokenizerJson as { model: { vocab: Record<string, number>; merges: string[][] } }).model;
    const before = JSON.stringify(tokenizerJson);
    expect(model.merges.length).toBeGreaterThan(10);
    const a = hfTokenizer(tokenizerJson, tokenizerConfig);
    expect(JSON.stringify(tokenizerJson)).toBe(before);
    // A second tokenizer from the same object encodes exactly as the first.
    const b = hfTokenizer(tokenizerJson, tokenizerConfig);
    for (const text of SPM_CORPUS) expect(b.encode(text)).toEqual(a.encode(text));
  });
});

describe('spmMerges', () => {
  it('ranks every split of a token by the token score, including splits at characters outside the vocabulary', () => {
    const tokens = ['a', 'ab', 'abc', 'bc', 'x'];
    const vocab: Record<string, number> = Object.fromEntries(tokens.map((t, i) => [t, i]));
    const merges = spmMerges(tokens, Float32Array.from([0, -1, -0.5, -3, 0]), vocab);
    // abc (-0.5): a+bc, ab+c (c is a character, not a token); ab (-1): a+b; bc (-3): b+c
    expect(merges).toEqual([['a', 'bc'], ['ab', 'c'], ['a', 'b'], ['b', 'c']]);
  });

  it('scores come from the GGUF and must match the vocabulary', () => {
    const f = parseGguf(spmVocab(false));
    const meta = new Map<string, GgufValue>(f.metadata);
    meta.set('tokenizer.ggml.scores', new Float32Array(3));
    expect(() => ggufToHfTokenizer(meta)).toThrow(expect.objectContaining({ code: 'GGUF_CORRUPT', message: expect.stringContaining('scores') }));
  });
});

describe("BPE with llama.cpp's 'default' pre-tokenizer", () => {
  /** GPT-2 byte alphabet, some merges, and a digit / punctuation mix that the four default regexes split differently from gpt2's one. */
  function bpeVocab(pre: string | undefined): Uint8Array {
    const chars: string[] = [];
    let n = 0;
    for (let b = 0; b < 256; b++) {
      const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      chars.push(String.fromCharCode(printable ? b : 256 + n++));
    }
    const merges = ['1 2', '12 3', '123 4', 'Ġ 1', 'Ġ1 2', '! !', '!! ?', 'h e', 'he l', 'hel lo', 'Ġ hello', 'Ġ hel', '= =', 'Ġ =', '- >', '( )'];
    const extra = ['12', '123', '1234', 'Ġ1', 'Ġ12', '!!', '!!?', 'he', 'hel', 'hello', 'Ġhello', 'Ġhel', '==', 'Ġ=', '->', '()', '<s>'];
    const tokens = [...chars, ...extra];
    const types = new Int32Array(tokens.length).fill(GgufTokenType.NORMAL);
    types[tokens.length - 1] = GgufTokenType.CONTROL;
    return writeGguf({
      metadata: [
        ...HPARAMS,
        ['tokenizer.ggml.model', 'gpt2'], ...(pre ? [['tokenizer.ggml.pre', pre] as GgufMetadataEntry] : []),
        ['tokenizer.ggml.tokens', tokens], ['tokenizer.ggml.token_type', types], ['tokenizer.ggml.merges', [...merges.slice(0, 10), 'hel lo', ...merges.slice(10)]],
        ['tokenizer.ggml.bos_token_id', tokens.length - 1, U32], ['tokenizer.ggml.eos_token_id', tokens.length - 1, U32],
      ],
    });
  }
  const CORPUS = ['12345 1234567', 'hello!!? world', 'a==b -> c()', "it's hello's", '$100+200=300', '  spaces   and\ttabs\n\nnewlines', 'x1y22z333', '²³ ١٢٣', 'café (naïve)'];

  it.each([['default', 'default'], ['missing', undefined]])('ids equal llama.cpp (pre %s), with a warning', async (_, pre) => {
    const bytes = bpeVocab(pre);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const ours = ggufTokenizer(parseGguf(bytes));
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("llama.cpp's"));
    expect(warn.mock.calls[0]![0]).toMatch(pre ? /'default'/ : /no tokenizer\.ggml\.pre/);
    warn.mockRestore();
    const lm = await loadInLlamaCpp(bytes, { vocabOnly: true });
    try {
      for (const text of CORPUS) expect(ours.encode(text), JSON.stringify(text)).toEqual(Array.from(lm.tokenize(text, true)));
    } finally {
      await lm.dispose();
    }
  }, 30_000);
});
