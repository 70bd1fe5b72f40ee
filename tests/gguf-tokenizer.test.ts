import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SteerlabError } from '../src/errors.js';
import { GgufValueType, parseGguf, type GgufFile, type GgufValue } from '../src/engine/gguf/reader';
import { GgufTokenType, ggufToHfTokenizer, loadTokenizer, tokenizerFromGguf } from '../src/engine/gguf/tokenizer';
import { writeGguf, type GgufMetadataEntry } from '../src/engine/gguf/writer';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';

const MODEL = REAL_MODEL;
const haveModel = needsRealModel.available;

interface TokenFixture {
  cases: Array<{ text: string; ids: number[] }>;
  chats: Array<{ messages: Array<{ role: string; content: string }>; add_generation_prompt: boolean; rendered: string }>;
}
// Produced by scripts/gguf-tokens.py: llama.cpp's own tokenizer on the GGUF, and Python jinja2.
const fixture = JSON.parse(readFileSync('tests/fixtures/gguf/smollm2-tokens.json', 'utf8')) as TokenFixture;

function expectCode(f: () => unknown, code: string, ...parts: string[]): void {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(SteerlabError);
  expect((err as SteerlabError).code).toBe(code);
  for (const p of parts) expect((err as SteerlabError).message).toContain(p);
}

// ---- a tiny synthetic byte-level BPE vocabulary -----------------------------------------------
/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 upwards. */
function byteChars(): string[] {
  const chars: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return chars;
}

function tinyVocab(pre: string, extra: GgufMetadataEntry[] = []): Map<string, GgufValue> {
  const merges = ['1 2', '12 3', '123 4', '1234 5', "' T"];
  const tokens = [...byteChars(), '12', '123', '1234', '12345', "'T", 'xyz', '<s>', '</s>', '<tool>'];
  const types = new Int32Array(tokens.length).fill(GgufTokenType.NORMAL);
  types[tokens.indexOf('<s>')] = GgufTokenType.CONTROL;
  types[tokens.indexOf('</s>')] = GgufTokenType.CONTROL;
  types[tokens.indexOf('<tool>')] = GgufTokenType.USER_DEFINED;
  const bytes = writeGguf({
    metadata: [
      ['general.architecture', 'llama'],
      ['llama.context_length', 128],
      ['tokenizer.ggml.model', 'gpt2'],
      ['tokenizer.ggml.pre', pre],
      ['tokenizer.ggml.tokens', tokens],
      ['tokenizer.ggml.token_type', types],
      ['tokenizer.ggml.merges', merges],
      ['tokenizer.ggml.bos_token_id', tokens.indexOf('<s>')],
      ['tokenizer.ggml.eos_token_id', tokens.indexOf('</s>')],
      ...extra,
    ],
  });
  return parseGguf(bytes).metadata;
}

describe('ggufToHfTokenizer on synthetic vocabularies', () => {
  it('splits digits per pre-tokenizer: gpt2 whole, llama-bpe in threes, smollm/qwen2 singly', async () => {
    const want: Record<string, string[]> = {
      gpt2: ['12345'],
      'llama-bpe': ['123', '4', '5'],
      smollm: ['1', '2', '3', '4', '5'],
      qwen2: ['1', '2', '3', '4', '5'],
    };
    for (const [pre, tokens] of Object.entries(want)) {
      const tok = await tokenizerFromGguf(tinyVocab(pre));
      expect(tok.tokenize('12345'), pre).toEqual(tokens);
    }
  });

  it("llama-bpe matches contractions case-insensitively and ignores merges for whole vocab words", async () => {
    const llama = await tokenizerFromGguf(tinyVocab('llama-bpe'));
    const gpt2 = await tokenizerFromGguf(tinyVocab('gpt2'));
    expect(llama.tokenize("DON'T")).toEqual(['D', 'O', 'N', "'T"]);
    expect(gpt2.tokenize("DON'T")).toEqual(['D', 'O', 'N', "'", 'T']);
    expect(llama.tokenize('xyz')).toEqual(['xyz']); // in the vocab, no merge path: llama.cpp's ignore_merges
    expect(gpt2.tokenize('xyz')).toEqual(['x', 'y', 'z']);
  });

  it('qwen2 NFC-normalizes first', async () => {
    const qwen = await tokenizerFromGguf(tinyVocab('qwen2'));
    const gpt2 = await tokenizerFromGguf(tinyVocab('gpt2'));
    const decomposed = 'e\u0301';
    expect(qwen.tokenize(decomposed)).toEqual(qwen.tokenize('\u00e9'));
    expect(gpt2.tokenize(decomposed)).not.toEqual(gpt2.tokenize('\u00e9'));
  });

  it('control tokens are special, user-defined tokens are matched whole but are text', async () => {
    const meta = tinyVocab('smollm');
    const { tokenizerJson } = ggufToHfTokenizer(meta);
    const added = tokenizerJson.added_tokens as Array<{ content: string; special: boolean }>;
    expect(added.map((a) => [a.content, a.special])).toEqual([['<s>', true], ['</s>', true], ['<tool>', false]]);
    const tok = await tokenizerFromGguf(meta);
    const ids = tok.encode('a<s>b<tool>c', { add_special_tokens: false });
    const tokens = meta.get('tokenizer.ggml.tokens') as string[];
    expect(ids).toEqual([tokens.indexOf('a'), tokens.indexOf('<s>'), tokens.indexOf('b'), tokens.indexOf('<tool>'), tokens.indexOf('c')]);
    expect(tok.decode(ids, { skip_special_tokens: true })).toBe('ab<tool>c');
    expect(tok.decode(ids)).toBe('a<s>b<tool>c');
  });

  it('add_bos_token: llama-bpe defaults on, the GGUF key overrides, smollm defaults off', async () => {
    const tokens = tinyVocab('gpt2').get('tokenizer.ggml.tokens') as string[];
    const bos = tokens.indexOf('<s>'), eos = tokens.indexOf('</s>');
    const llama = await tokenizerFromGguf(tinyVocab('llama-bpe'));
    expect(llama.encode('a')).toEqual([bos, tokens.indexOf('a')]);
    expect(llama.encode('a', { add_special_tokens: false })).toEqual([tokens.indexOf('a')]);
    const off = await tokenizerFromGguf(tinyVocab('llama-bpe', [['tokenizer.ggml.add_bos_token', false]]));
    expect(off.encode('a')).toEqual([tokens.indexOf('a')]);
    const both = await tokenizerFromGguf(tinyVocab('smollm', [['tokenizer.ggml.add_bos_token', true], ['tokenizer.ggml.add_eos_token', true]]));
    expect(both.encode('a')).toEqual([bos, tokens.indexOf('a'), eos]);
    const { tokenizerConfig } = ggufToHfTokenizer(tinyVocab('smollm'));
    expect(tokenizerConfig).toMatchObject({ add_bos_token: false, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: null, model_max_length: 128 });
  });

  it('named chat templates become a list with a default', () => {
    const meta = tinyVocab('gpt2', [['tokenizer.chat_template', 'A'], ['tokenizer.chat_template.tool_use', 'B']]);
    expect(ggufToHfTokenizer(meta).tokenizerConfig.chat_template).toEqual([{ name: 'default', template: 'A' }, { name: 'tool_use', template: 'B' }]);
  });

  it('keeps a token named __proto__ as an ordinary vocabulary entry', async () => {
    const base = tinyVocab('gpt2');
    const tokens = [...(base.get('tokenizer.ggml.tokens') as string[]), '__proto__'];
    const meta = new Map(base);
    meta.set('tokenizer.ggml.tokens', tokens);
    meta.set('tokenizer.ggml.token_type', new Int32Array(tokens.length).fill(1));
    const vocab = (ggufToHfTokenizer(meta).tokenizerJson.model as { vocab: Record<string, number> }).vocab;
    expect(Object.getOwnPropertyDescriptor(vocab, '__proto__')?.value).toBe(tokens.length - 1);
  });

  it('throws UNSUPPORTED_TOKENIZER for other vocab types, unknown pre-tokenizers and missing vocabularies', () => {
    const wpm = tinyVocab('gpt2');
    wpm.set('tokenizer.ggml.model', 'bert');
    expectCode(() => ggufToHfTokenizer(wpm), 'UNSUPPORTED_TOKENIZER', '"bert"', 'SentencePiece');
    expectCode(() => ggufToHfTokenizer(tinyVocab('deepseek-llm')), 'UNSUPPORTED_TOKENIZER', '"deepseek-llm"');
    // A missing pre-tokenizer falls back to llama.cpp's default regexes, with its warning (tests/spm-tokenizer.test.ts).
    expectCode(() => ggufToHfTokenizer(new Map()), 'UNSUPPORTED_TOKENIZER', 'tokenizer.ggml.model');
  });

  it('throws GGUF_CORRUPT for inconsistent tokenizer metadata', () => {
    const cases: Array<[string, GgufValue, string]> = [
      ['tokenizer.ggml.token_type', new Int32Array(3), 'token_type'],
      ['tokenizer.ggml.bos_token_id', 999999, 'bos_token_id'],
      ['tokenizer.ggml.merges', ['nospace'], 'merge #0'],
      ['tokenizer.ggml.tokens', new Float32Array(2), 'tokens'],
    ];
    for (const [key, value, part] of cases) {
      const meta = tinyVocab('gpt2');
      meta.set(key, value);
      expectCode(() => ggufToHfTokenizer(meta), 'GGUF_CORRUPT', part);
    }
  });
});

needsRealModel.describe('SmolLM2 tokenizer rebuilt from the GGUF', () => {
  const file: GgufFile | null = haveModel ? parseGguf(new Uint8Array(readFileSync(MODEL))) : null;
  const files = file ? ggufToHfTokenizer(file) : null;
  const load = () => loadTokenizer(files!.tokenizerJson, files!.tokenizerConfig);

  it('has the structure of SmolLM2\'s own tokenizer.json', () => {
    const j = files!.tokenizerJson as Record<string, any>;
    // SmolLM2 ships Digits{individual_digits}; Split on \p{N} is the same rule, and portable (see tokenizer.ts).
    expect(j.pre_tokenizer).toEqual({
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: '\\p{N}' }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    });
    expect(j.decoder.type).toBe('ByteLevel');
    expect(j.model.type).toBe('BPE');
    expect(Object.keys(j.model.vocab).length).toBe(49152);
    expect(j.model.merges.length).toBe(48900);
    expect(j.added_tokens.length).toBe(17);
    expect(j.added_tokens.every((t: { special: boolean }) => t.special)).toBe(true);
    expect(files!.tokenizerConfig).toMatchObject({
      bos_token: '<|im_start|>', eos_token: '<|im_end|>', unk_token: '<|endoftext|>', pad_token: '<|im_end|>',
      add_bos_token: false, model_max_length: 8192,
    });
  });

  it('"The capital of France is" -> [504, 3575, 282, 4649, 314]', async () => {
    const tok = await load();
    expect(tok.encode('The capital of France is')).toEqual([504, 3575, 282, 4649, 314]);
  });

  it('special tokens and digits', async () => {
    const tok = await load();
    expect(tok.encode('<|im_start|>')).toEqual([1]);
    expect(tok.encode('<|im_end|>')).toEqual([2]);
    expect(tok.bos_token_id).toBe(1);
    expect(tok.eos_token_id).toBe(2);
    const digits = tok.encode('12345');
    expect(digits.length).toBe(5);
    expect(digits.map((id) => tok.decode([id]))).toEqual(['1', '2', '3', '4', '5']);
  });

  it('matches llama.cpp token for token on the reference corpus', async () => {
    const tok = await load();
    const mismatches: string[] = [];
    for (const c of fixture.cases) {
      const ids = tok.encode(c.text);
      if (JSON.stringify(ids) !== JSON.stringify(c.ids)) mismatches.push(`${JSON.stringify(c.text)}: ${JSON.stringify(ids)} vs ${JSON.stringify(c.ids)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('decode(encode(s)) === s over unicode, code, whitespace and special tokens', async () => {
    const tok = await load();
    const corpus = [
      ...fixture.cases.map((c) => c.text),
      '', ' ', '\t\t', '\r\n', 'a\n\n\nb', '  leading and trailing  ', '🤖🤖🤖', '\u{10FFFF}\u{1F600}',
      'function x() {\n  return `${a}  ${b}`;\n}\n', 'tab\tseparated\tvalues\n1\t2\t3',
      '<|im_start|>system\nYou are <|im_end|> here<|endoftext|>',
    ];
    for (const s of corpus) {
      const ids = tok.encode(s);
      if (s === '') { expect(ids).toEqual([]); continue; }
      expect(tok.decode(ids), JSON.stringify(s)).toBe(s);
    }
  });

  it('applies the GGUF chat template exactly like jinja2', async () => {
    const tok = await load();
    for (const chat of fixture.chats) {
      const text = tok.apply_chat_template(chat.messages, { tokenize: false, add_generation_prompt: chat.add_generation_prompt });
      expect(text).toBe(chat.rendered);
    }
    const prompt = tok.apply_chat_template([{ role: 'user', content: 'Hi' }], { tokenize: false, add_generation_prompt: true }) as string;
    expect(prompt.endsWith('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
    const ids = tok.apply_chat_template([{ role: 'user', content: 'Hi' }], { add_generation_prompt: true, return_tensor: false, return_dict: false }) as number[];
    expect(ids).toEqual(tok.encode(prompt));
    expect(ids[0]).toBe(1); // <|im_start|> as one control token
    expect(ids.at(-1)).toBe(198); // the "\n" after "assistant"
    expect(tok.decode(ids)).toBe(prompt);
  });

  it('works from a vocabulary-only GGUF written from the real tokenizer keys', async () => {
    const metadata: GgufMetadataEntry[] = [...file!.metadata]
      .filter(([k]) => k.startsWith('tokenizer.') || k === 'general.architecture')
      .map(([k, v]) => [k, v, file!.metadataTypes.get(k)]);
    const bytes = writeGguf({ metadata });
    expect(bytes.length).toBeLessThan(2_000_000);
    const vocabOnly = parseGguf(bytes);
    expect(vocabOnly.tensors.length).toBe(0);
    expect(vocabOnly.metadataTypes.get('tokenizer.ggml.token_type')).toEqual({ array: GgufValueType.INT32 });
    const tok = await tokenizerFromGguf(vocabOnly);
    for (const c of fixture.cases) expect(tok.encode(c.text)).toEqual(c.ids);
  });
});
