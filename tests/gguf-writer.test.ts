import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SteerlabError } from '../src/errors.js';
import { GgmlType, dequantize, quantize } from '../src/engine/gguf/quant';
import { GgufValueType, parseGguf, tensorBytes, type GgufTypeSpec } from '../src/engine/gguf/reader';
import { inferGgufType, writeControlVector, writeGguf, type GgufMetadataEntry } from '../src/engine/gguf/writer';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';

const MODEL = REAL_MODEL;

function badArgument(f: () => unknown, part?: string): void {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(SteerlabError);
  expect((err as SteerlabError).code).toBe('BAD_ARGUMENT');
  if (part) expect((err as SteerlabError).message).toContain(part);
}

describe('writeGguf value types', () => {
  it('infers u32 / i32 / f32 / u64 / i64 / bool / string and array element types', () => {
    const cases: Array<[unknown, GgufTypeSpec]> = [
      [3, GgufValueType.UINT32], [0xffffffff, GgufValueType.UINT32], [-3, GgufValueType.INT32], [0.5, GgufValueType.FLOAT32],
      [5n, GgufValueType.UINT64], [-5n, GgufValueType.INT64], [true, GgufValueType.BOOL], ['x', GgufValueType.STRING],
      [[1, 2], { array: GgufValueType.UINT32 }], [[1, -1], { array: GgufValueType.INT32 }], [[1, 0.5], { array: GgufValueType.FLOAT32 }],
      [['a'], { array: GgufValueType.STRING }], [new Float32Array(1), { array: GgufValueType.FLOAT32 }],
      [new Int32Array(1), { array: GgufValueType.INT32 }], [[new Uint8Array(1)], { array: { array: GgufValueType.UINT8 } }],
    ];
    for (const [v, spec] of cases) expect(inferGgufType(v as never), String(v)).toEqual(spec);
  });

  it('refuses ambiguous or out-of-range values instead of guessing', () => {
    badArgument(() => inferGgufType(2 ** 40), 'explicit 64-bit');
    badArgument(() => inferGgufType([]), 'empty array');
    badArgument(() => inferGgufType([1, 'a'] as never), 'mixes');
    badArgument(() => writeGguf({ metadata: [['k', 300, GgufValueType.UINT8]] }), 'k');
    badArgument(() => writeGguf({ metadata: [['k', -1, GgufValueType.UINT32]] }));
    badArgument(() => writeGguf({ metadata: [['k', 1.5, GgufValueType.INT32]] }));
    badArgument(() => writeGguf({ metadata: [['k', 'x', GgufValueType.FLOAT32]] }));
    badArgument(() => writeGguf({ metadata: [['k', 2n ** 64n, GgufValueType.UINT64]] }));
    badArgument(() => writeGguf({ metadata: [['k', 1], ['k', 2]] }), 'duplicate');
  });

  it('writes an integral float as FLOAT32 when told to (llama.cpp checks key types)', () => {
    const f = parseGguf(writeGguf({ metadata: [['llama.rope.freq_base', 10000, GgufValueType.FLOAT32], ['n', 10000]] }));
    expect(f.metadataTypes.get('llama.rope.freq_base')).toBe(GgufValueType.FLOAT32);
    expect(f.metadataTypes.get('n')).toBe(GgufValueType.UINT32);
  });
});

describe('writeGguf tensors and alignment', () => {
  const tensors = [
    { name: 'odd', dims: [3], type: GgmlType.F32, data: new Uint8Array(new Float32Array([1, 2, 3]).buffer) },
    { name: 'q', dims: [64, 2], type: GgmlType.Q4_1, data: quantize(GgmlType.Q4_1, new Float32Array(128).map((_, i) => Math.sin(i))) },
    { name: 'k', dims: [256], type: GgmlType.Q4_K, data: quantize(GgmlType.Q4_K, new Float32Array(256).map((_, i) => Math.cos(i))) },
  ];

  for (const alignment of [32, 64, 1, 4096]) {
    it(`pads with zeros to ${alignment}-byte boundaries and round-trips data`, () => {
      const bytes = writeGguf({ metadata: [['general.architecture', 'llama']], tensors, alignment });
      const f = parseGguf(bytes);
      expect(f.alignment).toBe(alignment);
      expect(f.metadata.has('general.alignment')).toBe(alignment !== 32);
      expect(f.dataOffset % alignment).toBe(0);
      expect(bytes.length % alignment).toBe(0);
      let prevEnd = f.dataOffset;
      for (const [i, t] of f.tensors.entries()) {
        expect(t.offset % alignment).toBe(0);
        // Everything between the previous tensor and this one is zero padding.
        expect(bytes.subarray(prevEnd, t.offset).every((b) => b === 0)).toBe(true);
        expect(Buffer.from(tensorBytes(bytes, t)).equals(Buffer.from(tensors[i]!.data))).toBe(true);
        prevEnd = t.offset + t.nbytes;
      }
      expect(bytes.subarray(prevEnd).every((b) => b === 0)).toBe(true);
      const q = f.tensorByName.get('q')!;
      expect(dequantize(q.type, tensorBytes(bytes, q), q.nElements)).toEqual(dequantize(GgmlType.Q4_1, tensors[1]!.data, 128));
    });
  }

  it('places the 32-byte-aligned data section right after the header', () => {
    const bytes = writeGguf({ metadata: [], tensors: [tensors[0]!] });
    const f = parseGguf(bytes);
    // 24-byte header + tensor record (8 + 3 name, 4 n_dims, 8 dim, 4 type, 8 offset) = 59 -> 64.
    expect(f.dataOffset).toBe(64);
    expect(bytes.subarray(59, 64).every((b) => b === 0)).toBe(true);
    expect(f.tensors[0]!.offset).toBe(f.dataOffset);
    expect(bytes.length).toBe(f.dataOffset + 32); // 12 bytes of data padded to 32
  });

  it('validates tensors', () => {
    badArgument(() => writeGguf({ metadata: [], tensors: [{ ...tensors[0]!, data: new Uint8Array(8) }] }), '12 bytes');
    badArgument(() => writeGguf({ metadata: [], tensors: [{ name: 'x', dims: [48], type: GgmlType.Q4_0, data: new Uint8Array(27) }] }), 'block');
    badArgument(() => writeGguf({ metadata: [], tensors: [tensors[0]!, tensors[0]!] }), 'duplicate');
    badArgument(() => writeGguf({ metadata: [], tensors: [{ ...tensors[0]!, type: 77 }] }), 'unknown ggml type');
    badArgument(() => writeGguf({ metadata: [], alignment: 48 }), 'power of two');
    badArgument(() => writeGguf({ metadata: [['general.alignment', 64]], alignment: 32 }), 'disagrees');
  });
});

describe('control vectors', () => {
  it('writes what llama.cpp --control-vector reads', () => {
    const dirs: Array<[number, Float32Array]> = [
      [5, new Float32Array([0.5, -1, 2, 0])],
      [2, new Float32Array([1, 2, 3, 4])],
    ];
    const bytes = writeControlVector(dirs, 'llama');
    const f = parseGguf(bytes);
    expect(f.metadata.get('general.architecture')).toBe('controlvector');
    expect(f.metadata.get('controlvector.model_hint')).toBe('llama');
    expect(f.metadata.get('controlvector.layer_count')).toBe(2);
    expect(f.metadataTypes.get('controlvector.layer_count')).toBe(GgufValueType.UINT32);
    expect(f.tensors.map((t) => t.name)).toEqual(['direction.2', 'direction.5']);
    for (const [layer, dir] of dirs) {
      const t = f.tensorByName.get(`direction.${layer}`)!;
      expect(t.type).toBe(GgmlType.F32);
      expect(t.dims).toEqual([4]);
      expect(dequantize(t.type, tensorBytes(bytes, t), t.nElements)).toEqual(dir);
    }
  });

  it('rejects layer 0, mismatched sizes and non-finite values', () => {
    badArgument(() => writeControlVector([[0, new Float32Array(4)]]));
    badArgument(() => writeControlVector([[1, new Float32Array(4)], [2, new Float32Array(5)]]), 'expected 4');
    badArgument(() => writeControlVector([[1, new Float32Array([NaN])]]), 'non-finite');
    badArgument(() => writeControlVector([]));
  });
});

needsRealModel.describe('rewriting the real file', () => {
  it('copies all SmolLM2 metadata into a vocab-only file with identical values and types', () => {
    const src = parseGguf(new Uint8Array(readFileSync(MODEL)));
    const metadata: GgufMetadataEntry[] = [...src.metadata].map(([k, v]) => [k, v, src.metadataTypes.get(k)]);
    const bytes = writeGguf({ metadata });
    const f = parseGguf(bytes);
    expect(f.tensors.length).toBe(0);
    expect(f.metadataTypes).toEqual(src.metadataTypes);
    expect(f.metadata).toEqual(src.metadata);
    expect(bytes.length).toBeLessThan(src.dataOffset); // header only
  });
});
