import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SteerlabError } from '../src/errors.js';
import { GgmlType, quantize } from '../src/engine/gguf/quant';
import { GgufValueType, parseGguf, tensorBytes, type GgufFile, type GgufLimits } from '../src/engine/gguf/reader';
import { writeGguf } from '../src/engine/gguf/writer';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';

const MODEL = REAL_MODEL;
const haveModel = needsRealModel.available;

// --- a raw GGUF byte builder, so malformed files can be written field by field ---------------
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const u32 = (v: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };
const u64 = (v: number | bigint): Uint8Array => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); return b; };
const str = (s: string): Uint8Array => { const e = new TextEncoder().encode(s); return cat(u64(e.length), e); };
const header = (nTensors: number | bigint, nKv: number | bigint, version = 3): Uint8Array =>
  cat(new TextEncoder().encode('GGUF'), u32(version), u64(nTensors), u64(nKv));
const kvU32 = (key: string, v: number): Uint8Array => cat(str(key), u32(GgufValueType.UINT32), u32(v));
const tensorInfo = (name: string, dims: number[], type: number, offset: number | bigint): Uint8Array =>
  cat(str(name), u32(dims.length), ...dims.map((d) => u64(d)), u32(type), u64(offset));
const pad = (b: Uint8Array, a = 32): Uint8Array => cat(b, new Uint8Array((a - (b.length % a)) % a));

/** Parse and return the SteerlabError (fails the test if parsing succeeds or throws anything else). */
function parseError(bytes: Uint8Array, opts?: GgufLimits, maxMs = 100): SteerlabError {
  const t0 = performance.now();
  let err: unknown;
  try { parseGguf(bytes, opts); } catch (e) { err = e; }
  const ms = performance.now() - t0;
  expect(err, 'expected parseGguf to throw').toBeInstanceOf(SteerlabError);
  expect(ms).toBeLessThan(maxMs); // fails fast: no scan over absurd counts
  const e = err as SteerlabError;
  expect(e.message).not.toContain('\n'); // one line
  return e;
}

// A small valid file with every value type and a few tensors.
const f32Data = new Float32Array([1, -2, 3.5, 0.25, 5, 6, 7, 8]);
const sample = (alignment?: number): Uint8Array => writeGguf({
  alignment,
  metadata: [
    ['general.architecture', 'llama'],
    ['general.name', 'tiny ✓ 模型'],
    ['t.u8', 200, GgufValueType.UINT8],
    ['t.i8', -100, GgufValueType.INT8],
    ['t.u16', 60000, GgufValueType.UINT16],
    ['t.i16', -30000, GgufValueType.INT16],
    ['t.u32', 4000000000, GgufValueType.UINT32],
    ['t.i32', -2000000000, GgufValueType.INT32],
    ['t.f32', 0.1, GgufValueType.FLOAT32],
    ['t.f64', 0.1, GgufValueType.FLOAT64],
    ['t.bool', true],
    ['t.u64', 2n ** 63n + 5n, GgufValueType.UINT64],
    ['t.i64', -(2n ** 62n), GgufValueType.INT64],
    ['t.strings', ['a', '', 'Ġhello', '😀']],
    ['t.i32s', new Int32Array([1, -2, 3])],
    ['t.f32s', new Float32Array([0.5, -1.25])],
    ['t.bools', [true, false, true]],
    ['t.u64s', new BigUint64Array([1n, 2n ** 64n - 1n])],
    ['t.nested', [new Int32Array([1, 2]), new Int32Array([3])], { array: { array: GgufValueType.INT32 } }],
    ['t.empty', [], { array: GgufValueType.STRING }],
  ],
  tensors: [
    { name: 'a', dims: [8], type: GgmlType.F32, data: new Uint8Array(f32Data.buffer) },
    { name: 'b', dims: [32, 2], type: GgmlType.Q8_0, data: quantize(GgmlType.Q8_0, new Float32Array(64).map((_, i) => i / 64)) },
    { name: 'c', dims: [3], type: GgmlType.F16, data: quantize(GgmlType.F16, new Float32Array([1, 2, 3])) },
  ],
});

function lastTensorEnd(f: GgufFile): number {
  return Math.max(...f.tensors.map((t) => t.offset + t.nbytes));
}

describe('parseGguf on well-formed input', () => {
  it('reads every value type back', () => {
    const f = parseGguf(sample());
    const m = f.metadata;
    expect(f.version).toBe(3);
    expect(m.get('general.name')).toBe('tiny ✓ 模型');
    expect(m.get('t.u8')).toBe(200);
    expect(m.get('t.i8')).toBe(-100);
    expect(m.get('t.u16')).toBe(60000);
    expect(m.get('t.i16')).toBe(-30000);
    expect(m.get('t.u32')).toBe(4000000000);
    expect(m.get('t.i32')).toBe(-2000000000);
    expect(m.get('t.f32')).toBe(Math.fround(0.1));
    expect(m.get('t.f64')).toBe(0.1);
    expect(m.get('t.bool')).toBe(true);
    expect(m.get('t.u64')).toBe(2n ** 63n + 5n);
    expect(m.get('t.i64')).toBe(-(2n ** 62n));
    expect(m.get('t.strings')).toEqual(['a', '', 'Ġhello', '😀']);
    expect(m.get('t.i32s')).toEqual(new Int32Array([1, -2, 3]));
    expect(m.get('t.f32s')).toEqual(new Float32Array([0.5, -1.25]));
    expect(m.get('t.bools')).toEqual([true, false, true]);
    expect(m.get('t.u64s')).toEqual(new BigUint64Array([1n, 2n ** 64n - 1n]));
    expect(m.get('t.nested')).toEqual([new Int32Array([1, 2]), new Int32Array([3])]);
    expect(m.get('t.empty')).toEqual([]);
    expect(f.metadataTypes.get('t.i16')).toBe(GgufValueType.INT16);
    expect(f.metadataTypes.get('t.nested')).toEqual({ array: { array: GgufValueType.INT32 } });
    expect(f.metadataTypes.get('general.architecture')).toBe(GgufValueType.STRING);
  });

  it('locates tensors at absolute, aligned offsets and slices their bytes', () => {
    const bytes = sample();
    const f = parseGguf(bytes);
    expect(f.tensors.map((t) => t.name)).toEqual(['a', 'b', 'c']);
    expect(f.alignment).toBe(32);
    expect(f.dataOffset % 32).toBe(0);
    for (const t of f.tensors) expect(t.offset % 32).toBe(0);
    const a = f.tensorByName.get('a')!;
    expect(a).toMatchObject({ dims: [8], type: GgmlType.F32, typeName: 'F32', nbytes: 32, nElements: 8, offset: f.dataOffset });
    expect(new Float32Array(tensorBytes(bytes, a).slice().buffer)).toEqual(f32Data);
    expect(f.tensorByName.get('b')).toMatchObject({ dims: [32, 2], typeName: 'Q8_0', nbytes: 68, nElements: 64 });
    expect(f.tensorByName.get('c')!.nbytes).toBe(6);
    expect(f.byteLength).toBe(bytes.length);
  });

  it('honours general.alignment', () => {
    const bytes = sample(64);
    const f = parseGguf(bytes);
    expect(f.alignment).toBe(64);
    expect(f.metadata.get('general.alignment')).toBe(64);
    expect(f.dataOffset % 64).toBe(0);
    for (const t of f.tensors) expect(t.offset % 64).toBe(0);
  });

  it('parses a vocabulary-only file (no tensors)', () => {
    const bytes = writeGguf({ metadata: [['tokenizer.ggml.model', 'gpt2'], ['tokenizer.ggml.tokens', ['a', 'b']]] });
    const f = parseGguf(bytes);
    expect(f.tensors).toEqual([]);
    expect(f.metadata.get('tokenizer.ggml.tokens')).toEqual(['a', 'b']);
  });

  it('decodes UTF-8 strings exactly like TextDecoder, invalid sequences included', () => {
    const samples: number[][] = [
      [0x61, 0x62], [0xc4, 0xa0, 0x68], [0xe6, 0xa8, 0xa1], [0xf0, 0x9f, 0x98, 0x80, 0x21],
      [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff],
      [0x61, 0xc4], [0xe6, 0xa8], [0x80, 0x61], [0xf0, 0x9f, 0x98], [],
      Array.from({ length: 70 }, (_, i) => 0x41 + (i % 26)), [...Array(40).fill(0xc3), 0xa9],
    ];
    const kvs = samples.map((b, i) => cat(str(`k${i}`), u32(GgufValueType.STRING), u64(b.length), new Uint8Array(b)));
    const f = parseGguf(cat(header(0, samples.length), ...kvs));
    samples.forEach((b, i) => expect(f.metadata.get(`k${i}`), `sample ${i}`).toBe(new TextDecoder().decode(new Uint8Array(b))));
  });

  it('accepts version 2 files', () => {
    const bytes = cat(header(0, 1, 2), kvU32('x', 7));
    expect(parseGguf(bytes).version).toBe(2);
  });

  it('does not copy the file (tensorBytes is a view)', () => {
    const bytes = sample();
    const f = parseGguf(bytes);
    const view = tensorBytes(bytes, f.tensors[0]!);
    expect(view.buffer).toBe(bytes.buffer);
  });
});

describe('parseGguf on hostile input', () => {
  it('wrong magic -> GGUF_BAD_MAGIC', () => {
    for (const magic of ['GGUG', 'ggjt', 'GGML', '\0\0\0\0', 'PK\x03\x04']) {
      const bytes = sample();
      bytes.set(new TextEncoder().encode(magic).subarray(0, 4), 0);
      const e = parseError(bytes);
      expect(e.code).toBe('GGUF_BAD_MAGIC');
      expect(e.message).toContain('not a GGUF file');
    }
    expect(parseError(new TextEncoder().encode('{"json": true}')).code).toBe('GGUF_BAD_MAGIC');
  });

  it('truncation at every byte of a small file -> GGUF_TRUNCATED', () => {
    const bytes = sample();
    const end = lastTensorEnd(parseGguf(bytes));
    for (let cut = 0; cut < end; cut++) {
      expect(parseError(bytes.subarray(0, cut)).code, `cut at ${cut}`).toBe('GGUF_TRUNCATED');
    }
  });

  it('unsupported or byte-swapped versions -> GGUF_CORRUPT', () => {
    for (const v of [0, 1, 4, 0x03000000]) {
      const bytes = sample();
      bytes.set(u32(v), 4);
      const e = parseError(bytes);
      expect(e.code).toBe('GGUF_CORRUPT');
      expect(e.message).toContain(`version ${v}`);
    }
    const swapped = sample();
    swapped.set(u32(0x03000000), 4);
    expect(parseError(swapped).message).toContain('big-endian');
  });

  it('absurd tensor and key/value counts -> GGUF_LIMIT or GGUF_TRUNCATED without allocating', () => {
    expect(parseError(header(2n ** 62n, 0)).code).toBe('GGUF_LIMIT');
    expect(parseError(header(2n ** 64n - 1n, 0)).code).toBe('GGUF_LIMIT');
    expect(parseError(header(0, 2n ** 62n)).code).toBe('GGUF_LIMIT');
    // Within the limits but more than the bytes could hold.
    const e = parseError(cat(header(60000, 0), new Uint8Array(64)));
    expect(e.code).toBe('GGUF_TRUNCATED');
    expect(e.message).toContain('tensor count 60000');
    expect(parseError(cat(header(0, 50000), new Uint8Array(64))).code).toBe('GGUF_TRUNCATED');
    // Caller-chosen limits.
    expect(parseError(sample(), { maxTensors: 2 }).code).toBe('GGUF_LIMIT');
    expect(parseError(sample(), { maxKv: 3 }).code).toBe('GGUF_LIMIT');
  });

  it('absurd string lengths -> GGUF_LIMIT / GGUF_TRUNCATED', () => {
    const hugeKey = cat(header(0, 1), u64(2n ** 60n), new Uint8Array(16));
    expect(parseError(hugeKey).code).toBe('GGUF_LIMIT');
    const hugeValue = cat(header(0, 1), str('k'), u32(GgufValueType.STRING), u64(2n ** 63n), new Uint8Array(8));
    expect(parseError(hugeValue).code).toBe('GGUF_LIMIT');
    const longerThanFile = cat(header(0, 1), str('k'), u32(GgufValueType.STRING), u64(1 << 20), new Uint8Array(8));
    expect(parseError(longerThanFile).code).toBe('GGUF_TRUNCATED');
    expect(parseError(sample(), { maxStringBytes: 4 }).code).toBe('GGUF_LIMIT');
    const hugeName = cat(header(1, 0), u64(2n ** 59n), new Uint8Array(64));
    expect(parseError(hugeName).code).toBe('GGUF_LIMIT');
  });

  it('absurd array lengths -> GGUF_LIMIT / GGUF_TRUNCATED', () => {
    const arr = (et: number, n: bigint): Uint8Array => cat(header(0, 1), str('k'), u32(GgufValueType.ARRAY), u32(et), u64(n), new Uint8Array(32));
    expect(parseError(arr(GgufValueType.UINT8, 2n ** 40n)).code).toBe('GGUF_LIMIT');
    expect(parseError(arr(GgufValueType.STRING, 2n ** 40n)).code).toBe('GGUF_LIMIT');
    expect(parseError(arr(GgufValueType.INT32, 1000n)).code).toBe('GGUF_TRUNCATED');
    // 1000 strings need at least 8000 bytes of length prefixes.
    expect(parseError(arr(GgufValueType.STRING, 1000n)).code).toBe('GGUF_TRUNCATED');
    expect(parseError(arr(GgufValueType.ARRAY, 1000n)).code).toBe('GGUF_TRUNCATED');
    expect(parseError(sample(), { maxArrayLen: 2 }).code).toBe('GGUF_LIMIT');
  });

  it('deeply nested arrays -> GGUF_LIMIT (no stack exhaustion)', () => {
    const depth = 10000;
    const parts: Uint8Array[] = [header(0, 1), str('k'), u32(GgufValueType.ARRAY)];
    for (let i = 0; i < depth; i++) parts.push(u32(GgufValueType.ARRAY), u64(1));
    parts.push(u32(GgufValueType.UINT8), u64(0));
    expect(parseError(cat(...parts)).code).toBe('GGUF_LIMIT');
  });

  it('unknown value types and bad bools -> GGUF_CORRUPT', () => {
    const e = parseError(cat(header(0, 1), str('k'), u32(13), u32(0)));
    expect(e.code).toBe('GGUF_CORRUPT');
    expect(e.message).toContain('unknown value type 13');
    expect(parseError(cat(header(0, 1), str('k'), u32(GgufValueType.ARRAY), u32(99), u64(0))).code).toBe('GGUF_CORRUPT');
    expect(parseError(cat(header(0, 1), str('k'), u32(GgufValueType.BOOL), new Uint8Array([2]))).code).toBe('GGUF_CORRUPT');
  });

  it('duplicate keys and tensor names -> GGUF_CORRUPT', () => {
    expect(parseError(cat(header(0, 2), kvU32('k', 1), kvU32('k', 2))).message).toContain('duplicate key');
    const dupTensor = pad(cat(header(2, 0), tensorInfo('w', [4], GgmlType.F32, 0), tensorInfo('w', [4], GgmlType.F32, 32)));
    expect(parseError(cat(dupTensor, new Uint8Array(64))).message).toContain('duplicate tensor');
  });

  it('bad general.alignment -> GGUF_CORRUPT', () => {
    expect(parseError(cat(header(0, 1), kvU32('general.alignment', 48))).code).toBe('GGUF_CORRUPT');
    expect(parseError(cat(header(0, 1), kvU32('general.alignment', 0))).code).toBe('GGUF_CORRUPT');
    const asString = cat(header(0, 1), str('general.alignment'), u32(GgufValueType.STRING), str('32'));
    expect(parseError(asString).code).toBe('GGUF_CORRUPT');
  });

  it('bad tensor records', () => {
    const file = (info: Uint8Array, data = 256): Uint8Array => cat(pad(cat(header(1, 0), info)), new Uint8Array(data));
    // Unknown ggml type: a newer format or a flipped bit; either way we cannot size the data.
    const unknown = parseError(file(tensorInfo('w', [32], 77, 0)));
    expect(unknown.code).toBe('UNSUPPORTED_QUANT');
    expect(unknown.message).toContain('77');
    expect(parseError(file(tensorInfo('w', [32], 4, 0))).code).toBe('UNSUPPORTED_QUANT'); // removed Q4_2
    expect(parseError(file(tensorInfo('w', [], GgmlType.F32, 0))).code).toBe('GGUF_CORRUPT');
    expect(parseError(file(tensorInfo('w', [1, 1, 1, 1, 1], GgmlType.F32, 0))).code).toBe('GGUF_CORRUPT');
    expect(parseError(file(tensorInfo('w', [4], GgmlType.F32, 8))).message).toContain('not aligned');
    expect(parseError(file(tensorInfo('w', [48], GgmlType.Q4_0, 0))).message).toContain('block size');
    const past = parseError(file(tensorInfo('w', [1024], GgmlType.F32, 0)));
    expect(past.code).toBe('GGUF_TRUNCATED');
    expect(past.message).toContain('tensor w');
    expect(parseError(file(tensorInfo('w', [4], GgmlType.F32, 2n ** 62n))).code).toBe('GGUF_CORRUPT');
    expect(parseError(file(tensorInfo('w', [2 ** 40, 2 ** 40], GgmlType.F32, 0))).code).toBe('GGUF_CORRUPT');
    expect(parseError(file(tensorInfo('w', [2 ** 30, 2 ** 20], GgmlType.F32, 0))).code).toBe('GGUF_TRUNCATED');
    const overlap = cat(pad(cat(header(2, 0), tensorInfo('p', [16], GgmlType.F32, 0), tensorInfo('q', [16], GgmlType.F32, 32))), new Uint8Array(256));
    expect(parseError(overlap).message).toContain('overlap');
  });

  it('tensorBytes refuses a range outside the file', () => {
    const bytes = sample();
    const t = { ...parseGguf(bytes).tensors[0]!, offset: bytes.length - 4 };
    expect(() => tensorBytes(bytes, t)).toThrow(SteerlabError);
    expect(() => tensorBytes(bytes, { ...t, offset: -1 })).toThrow(SteerlabError);
  });

  it('random bit flips never escape as anything but a SteerlabError, and never hang', () => {
    const base = sample();
    const headerEnd = parseGguf(base).dataOffset;
    let seed = 12345;
    const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    const codes = new Map<string, number>();
    let parsed = 0;
    const t0 = performance.now();
    for (let trial = 0; trial < 3000; trial++) {
      const bytes = base.slice();
      const flips = 1 + rnd(3);
      for (let k = 0; k < flips; k++) { const at = rnd(headerEnd); bytes[at]! ^= 1 << rnd(8); }
      try {
        parseGguf(bytes);
        parsed++;
      } catch (e) {
        expect(e).toBeInstanceOf(SteerlabError);
        const code = (e as SteerlabError).code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    expect(performance.now() - t0).toBeLessThan(5000);
    // Flips land in string bytes and values too, so some files still parse; most must not.
    expect(parsed).toBeLessThan(3000);
    for (const code of codes.keys()) expect(['GGUF_BAD_MAGIC', 'GGUF_TRUNCATED', 'GGUF_CORRUPT', 'GGUF_LIMIT', 'UNSUPPORTED_QUANT']).toContain(code);
    expect(codes.get('GGUF_BAD_MAGIC')).toBeGreaterThan(0);
    expect(codes.get('GGUF_LIMIT')).toBeGreaterThan(0);
  });

  it('random garbage after a valid header start never escapes', () => {
    let seed = 99;
    const rnd = (): number => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed >>> 24; };
    for (let trial = 0; trial < 500; trial++) {
      const junk = new Uint8Array(16 + (trial % 200)).map(rnd);
      const bytes = cat(header(trial % 5, trial % 7), junk);
      try { parseGguf(bytes); } catch (e) { expect(e).toBeInstanceOf(SteerlabError); }
    }
  });
});

needsRealModel.describe('parseGguf on the real SmolLM2 file', () => {
  const bytes = haveModel ? new Uint8Array(readFileSync(MODEL)) : new Uint8Array();

  it('reads the header, hyper-parameters and tokenizer arrays', () => {
    const f = parseGguf(bytes);
    expect(f.version).toBe(3);
    expect(f.tensors.length).toBe(272);
    expect(f.metadata.get('general.architecture')).toBe('llama');
    expect(f.metadata.get('llama.block_count')).toBe(30);
    expect(f.metadata.get('llama.embedding_length')).toBe(576);
    expect(f.metadata.get('llama.attention.head_count_kv')).toBe(3);
    expect(f.metadata.get('llama.rope.freq_base')).toBe(100000);
    const tokens = f.metadata.get('tokenizer.ggml.tokens') as string[];
    expect(tokens.length).toBe(49152);
    expect(tokens[1]).toBe('<|im_start|>');
    const types = f.metadata.get('tokenizer.ggml.token_type');
    expect(types).toBeInstanceOf(Int32Array);
    expect((types as Int32Array)[1]).toBe(3);
    expect((f.metadata.get('tokenizer.ggml.merges') as string[]).length).toBe(48900);
    expect(f.tensorByName.get('output.weight')).toBeUndefined(); // tied embeddings
    expect(f.tensorByName.get('token_embd.weight')!.typeName).toBe('Q8_0');
    expect(lastTensorEnd(f)).toBe(bytes.length);
  });

  it('rejects the real file truncated at many points, each quickly', () => {
    const f = parseGguf(bytes);
    const cuts = [0, 3, 4, 8, 16, 24, 100, 1000, 5000, f.dataOffset - 1, f.dataOffset, f.dataOffset + 1, bytes.length - 1];
    for (let i = 1; i < 40; i++) cuts.push(Math.floor((f.dataOffset * i) / 40), Math.floor((bytes.length * i) / 40));
    for (const cut of cuts) {
      // Cuts past the vocabulary parse ~100k strings before noticing: allow for that (~25 ms here).
      expect(parseError(bytes.subarray(0, cut), undefined, 1000).code, `cut at ${cut}`).toBe('GGUF_TRUNCATED');
    }
  });

  it('rejects a flipped tensor count and an absurd vocabulary length', () => {
    const flipped = bytes.slice(0, 1 << 20);
    flipped[15] = 0x40; // tensor count 2^62 + 272
    expect(parseError(flipped).code).toBe('GGUF_LIMIT');
    const moreTensors = bytes.slice();
    moreTensors[9] = 0x10; // tensor count 0x1010: within the limit, so tensor data is misread as records
    expect(['GGUF_TRUNCATED', 'GGUF_CORRUPT', 'GGUF_LIMIT', 'UNSUPPORTED_QUANT']).toContain(parseError(moreTensors).code);
  });
});
