import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SteerlabError } from '../src/errors.js';
import { parseGguf, tensorBytes } from '../src/engine/gguf/reader';
import {
  GgmlType,
  bf16BitsToF32,
  dequantize,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  ggmlTypeInfo,
  quantize,
  toMatMulNBits,
  type MatMulNBitsWeights,
} from '../src/engine/gguf/quant';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';

const MODEL = REAL_MODEL;
const haveModel = needsRealModel.available;

interface RefTensor {
  name: string; type: number; dims: number[]; offset: number; nbytes: number;
  first: number[]; mid_start: number; mid: number[]; last: number[]; sum: number; abs_sum: number;
}
interface Reference {
  model: { byte_length: number; tensor_count: number; kv_count: number; tensors: RefTensor[] };
  blocks: Array<{ type: number; name: string; n_elements: number; bytes_b64: string; values_f32_b64: string }>;
  quantize: Array<{ input_f32_b64: string; encodings: Array<{ type: number; name: string; bytes_b64: string }> }>;
}
const ref = JSON.parse(readFileSync('tests/fixtures/gguf/reference.json', 'utf8')) as Reference;
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const f32 = (s: string): Float32Array => {
  const b = b64(s);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};

/** Seeded normal samples (mulberry32 + Box-Muller) so failures reproduce. */
function normals(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const u = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
  return out;
}

function expectError(f: () => unknown, code: string, ...parts: string[]): void {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(SteerlabError);
  expect((err as SteerlabError).code).toBe(code);
  for (const p of parts) expect((err as SteerlabError).message).toContain(p);
}

describe('half-precision helpers', () => {
  it('converts known fp16 patterns both ways', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [2 ** -24, 0x0001], [2 ** -14, 0x0400],
      [0.333251953125, 0x3555], [Infinity, 0x7c00], [-Infinity, 0xfc00], [0, 0x0000],
    ];
    for (const [v, bits] of cases) {
      expect(f32ToF16Bits(v)).toBe(bits);
      expect(f16BitsToF32(bits)).toBe(v);
    }
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(NaN) & 0x3ff).not.toBe(0);
  });

  it('rounds to nearest even, including into subnormals and up to infinity', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1+2^-10 -> even (1)
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even mantissa 2
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // exactly half the smallest subnormal -> even (0)
    expect(f32ToF16Bits(2 ** -25 * 1.5)).toBe(1);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(2); // tie between 1 and 2 -> even
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds past the largest finite
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(1e-10)).toBe(0);
  });

  it('round-trips every finite fp16 bit pattern', () => {
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaNs
      if (f32ToF16Bits(f16BitsToF32(h)) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  it('bf16 is the top half of float32, rounded to nearest even like ggml', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even
    expect(f32ToBf16Bits(-3.140625)).toBe(0xc049);
    expect(bf16BitsToF32(0xc049)).toBe(-3.140625);
    expect(f32ToBf16Bits(NaN) & 0x40).toBe(0x40); // quiet
  });
});

describe('ggml type table', () => {
  it('has ggml block sizes', () => {
    expect(ggmlTypeInfo(GgmlType.Q4_K)).toEqual({ name: 'Q4_K', blockSize: 256, typeSize: 144 });
    expect(ggmlTypeInfo(GgmlType.Q6_K)).toEqual({ name: 'Q6_K', blockSize: 256, typeSize: 210 });
    expect(ggmlTypeInfo(GgmlType.Q8_1)?.typeSize).toBe(36);
    expect(ggmlTypeInfo(GgmlType.BF16)).toEqual({ name: 'BF16', blockSize: 1, typeSize: 2 });
    expect(ggmlTypeInfo(4)).toBeUndefined(); // removed Q4_2
  });
});

describe('dequantize matches gguf-py bit for bit', () => {
  for (const blk of ref.blocks) {
    it(`${blk.name}: ${blk.n_elements} elements of random blocks`, () => {
      const got = dequantize(blk.type, b64(blk.bytes_b64), blk.n_elements);
      const want = f32(blk.values_f32_b64);
      expect(got.length).toBe(want.length);
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
      expect(maxDiff).toBe(0);
      // Also bitwise (distinguishes -0 from 0).
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(true);
    });
  }

  it('rejects unsupported and unknown types, naming type and tensor', () => {
    expectError(() => dequantize(GgmlType.IQ4_XS, new Uint8Array(136), 256, 'blk.3.ffn_up.weight'), 'UNSUPPORTED_QUANT', 'IQ4_XS', 'blk.3.ffn_up.weight');
    expectError(() => dequantize(GgmlType.IQ2_XXS, new Uint8Array(66), 256), 'UNSUPPORTED_QUANT', 'IQ2_XXS');
    expectError(() => dequantize(77, new Uint8Array(4), 1, 'x'), 'UNSUPPORTED_QUANT', 'unknown ggml type 77', 'x');
    expectError(() => quantize(GgmlType.Q8_1, new Float32Array(32)), 'UNSUPPORTED_QUANT', 'Q8_1');
  });

  it('rejects a byte length that does not match the element count', () => {
    expectError(() => dequantize(GgmlType.Q4_0, new Uint8Array(17), 32), 'BAD_ARGUMENT', '18 bytes');
    expectError(() => dequantize(GgmlType.Q4_K, new Uint8Array(144), 255), 'BAD_ARGUMENT', 'block');
  });
});

describe('quantize', () => {
  const q = ref.quantize[0]!;
  const input = f32(q.input_f32_b64);
  for (const enc of q.encodings) {
    it(`${enc.name} reproduces gguf-py's (ggml reference) encoding byte for byte`, () => {
      const got = quantize(enc.type, input);
      expect(Buffer.from(got).equals(Buffer.from(b64(enc.bytes_b64)))).toBe(true);
    });
  }

  // Q4_K / Q6_K: our own encoder; check it decodes to within half a quantization step.
  it('Q4_K round-trips within half a step of its sub-block range', () => {
    const x = normals(256 * 6, 11, 0.04);
    x.fill(0, 256, 512); // an all-zero super-block
    x.fill(0.25, 512, 544); // a constant positive sub-block
    for (let i = 768; i < 800; i++) x[i] = -0.3 - i * 1e-4; // an all-negative sub-block
    const y = dequantize(GgmlType.Q4_K, quantize(GgmlType.Q4_K, x), x.length);
    for (let sb = 0; sb < 6; sb++) {
      // Bound: step = (range + rounding of the 6-bit min) / 15 plus one unit of the 6-bit scale code.
      let maxRange = 0, maxNeg = 0;
      for (let i = sb * 256; i < sb * 256 + 256; i++) maxNeg = Math.max(maxNeg, -x[i]!);
      for (let s = 0; s < 8; s++) {
        const sub = x.subarray(sb * 256 + s * 32, sb * 256 + s * 32 + 32);
        maxRange = Math.max(maxRange, Math.max(0, ...sub) - Math.min(0, ...sub));
      }
      const bound = 0.5 * ((maxRange + maxNeg / 63) / 15 + maxRange / 15 / 63) * 1.01 + 1e-7;
      for (let i = sb * 256; i < sb * 256 + 256; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(bound);
    }
    for (let i = 256; i < 512; i++) expect(y[i]).toBe(0);
  });

  it('Q6_K round-trips within half a step', () => {
    const x = normals(256 * 4, 12, 0.02);
    x.fill(0, 0, 16);
    x[300] = 0.9; // outlier in one sub-block
    const y = dequantize(GgmlType.Q6_K, quantize(GgmlType.Q6_K, x), x.length);
    for (let s = 0; s < x.length / 16; s++) {
      const sub = x.subarray(s * 16, s * 16 + 16);
      const amax = Math.max(...Array.from(sub, Math.abs));
      let superMax = 0;
      for (let i = Math.floor(s / 16) * 256; i < Math.floor(s / 16) * 256 + 256; i++) superMax = Math.max(superMax, Math.abs(x[i]!));
      const bound = 0.5 * (amax / 31 + superMax / 31 / 127) * 1.01 + 1e-7;
      for (let i = 0; i < 16; i++) expect(Math.abs(y[s * 16 + i]! - sub[i]!)).toBeLessThanOrEqual(bound);
    }
    for (let i = 0; i < 16; i++) expect(y[i]).toBe(0);
  });

  it('all eight types round-trip a smooth signal with the expected relative error', () => {
    const x = normals(1024, 5, 0.05);
    const rms = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
    const expected: Array<[number, number]> = [
      [GgmlType.F32, 0], [GgmlType.F16, 1e-3], [GgmlType.BF16, 5e-3], [GgmlType.Q8_0, 0.01],
      [GgmlType.Q6_K, 0.04], [GgmlType.Q4_0, 0.15], [GgmlType.Q4_1, 0.15], [GgmlType.Q4_K, 0.15],
    ];
    for (const [type, tol] of expected) {
      const y = dequantize(type, quantize(type, x), x.length);
      const err = Math.sqrt(x.reduce((a, v, i) => a + (v - y[i]!) ** 2, 0) / x.length);
      expect(err / rms, `type ${type}`).toBeLessThanOrEqual(tol);
    }
  });

  it('refuses input whose block scale overflows fp16', () => {
    expectError(() => quantize(GgmlType.Q8_0, new Float32Array(32).fill(1e9)), 'BAD_ARGUMENT', 'fp16');
    expectError(() => quantize(GgmlType.Q4_K, new Float32Array(256).fill(Infinity)), 'BAD_ARGUMENT');
  });
});

/** The dequantization MatMulNBits performs: w = scale * (q - zp), zp defaulting to 8. */
function dequantMatMulNBits(w: MatMulNBitsWeights): Float32Array {
  const kBlocks = w.K / 32;
  const out = new Float32Array(w.N * w.K);
  for (let n = 0; n < w.N; n++) {
    for (let kb = 0; kb < kBlocks; kb++) {
      const blk = n * kBlocks + kb;
      const zp = w.zeroPoints ? w.zeroPoints[blk]! : 8;
      for (let i = 0; i < 32; i++) {
        const byte = w.B[blk * 16 + (i >> 1)]!;
        const q = i & 1 ? byte >> 4 : byte & 0xf;
        out[n * w.K + kb * 32 + i] = w.scales[blk]! * (q - zp);
      }
    }
  }
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('MatMulNBits repacking', () => {
  it('packs consecutive elements low nibble first (hand-built Q4_0 block)', () => {
    const block = new Uint8Array(18);
    block[0] = 0x00; block[1] = 0x3c; // d = 1
    // ggml layout: element j < 16 is the low nibble of byte j, element j+16 the high nibble.
    const q = Array.from({ length: 32 }, (_, j) => (j * 7) % 16);
    for (let j = 0; j < 16; j++) block[2 + j] = q[j]! | (q[j + 16]! << 4);
    const w = toMatMulNBits(GgmlType.Q4_0, block, 1, 32);
    for (let i = 0; i < 16; i++) expect(w.B[i]).toBe(q[2 * i]! | (q[2 * i + 1]! << 4));
    expect(w.zeroPoints).toBeNull();
    expect(Array.from(w.scales)).toEqual([1]);
  });

  const N = 24, K = 512;
  for (const [name, type] of [['Q4_0', GgmlType.Q4_0], ['Q4_1', GgmlType.Q4_1], ['Q4_K', GgmlType.Q4_K]] as const) {
    it(`${name}: scale*(q-zp) reproduces dequantize to 1e-6`, () => {
      const x = normals(N * K, 99 + type, 0.05);
      x.fill(0, 0, 64); // zero blocks: d == 0 / zero sub-scales
      x.fill(-0.125, 512, 544); // a constant negative block (Q4_1 d == 0, m < 0)
      x.fill(0.5, 1024, 1056); // a constant positive block
      const bytes = quantize(type, x);
      const want = dequantize(type, bytes, N * K);
      const w = toMatMulNBits(type, bytes, N, K);
      expect(w.B.length).toBe(N * (K / 32) * 16);
      expect(w.scales.length).toBe(N * (K / 32));
      if (type === GgmlType.Q4_0) expect(w.zeroPoints).toBeNull();
      else expect(w.zeroPoints?.length).toBe(N * (K / 32));
      const got = dequantMatMulNBits(w);
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-6);
      if (type !== GgmlType.Q4_0) {
        // Constant blocks must come back exactly.
        for (let i = 512; i < 544; i++) expect(got[i]).toBe(want[i]);
        for (let i = 1024; i < 1056; i++) expect(got[i]).toBe(want[i]);
      }
    });
  }

  it('Q4_1 block with d == 0 keeps its constant m exactly', () => {
    const block = new Uint8Array(20);
    const mBits = f32ToF16Bits(-0.3);
    block[2] = mBits & 0xff; block[3] = mBits >> 8;
    block.fill(0xa5, 4); // arbitrary nibbles: they must not matter
    const w = toMatMulNBits(GgmlType.Q4_1, block, 1, 32);
    const got = dequantMatMulNBits(w);
    const m = f16BitsToF32(mBits);
    for (const v of got) expect(v).toBe(m);
  });

  it('throws UNSUPPORTED_QUANT for other types and BAD_ARGUMENT for bad shapes', () => {
    expectError(() => toMatMulNBits(GgmlType.Q8_0, new Uint8Array(34), 1, 32), 'UNSUPPORTED_QUANT', 'Q8_0');
    expectError(() => toMatMulNBits(GgmlType.Q6_K, new Uint8Array(210), 1, 256), 'UNSUPPORTED_QUANT', 'Q6_K');
    expectError(() => toMatMulNBits(GgmlType.Q4_0, new Uint8Array(18), 1, 16), 'BAD_ARGUMENT');
    expectError(() => toMatMulNBits(GgmlType.Q4_K, new Uint8Array(144 * 2), 4, 128), 'BAD_ARGUMENT', '256');
    expectError(() => toMatMulNBits(GgmlType.Q4_1, new Uint8Array(19), 1, 32), 'BAD_ARGUMENT', '20 bytes');
  });
});

needsRealModel.describe('real SmolLM2 tensors vs gguf-py', () => {
  const bytes = haveModel ? new Uint8Array(readFileSync(MODEL)) : new Uint8Array();
  const file = haveModel ? parseGguf(bytes) : null;

  it('header facts agree with GGUFReader', () => {
    expect(bytes.length).toBe(ref.model.byte_length);
    expect(file!.tensors.length).toBe(ref.model.tensor_count);
    expect(file!.metadata.size).toBe(ref.model.kv_count);
  });

  for (const rt of ref.model.tensors) {
    it(`${rt.name} (${rt.dims.join('x')}, type ${rt.type}) dequantizes identically`, () => {
      const t = file!.tensorByName.get(rt.name)!;
      expect(t.dims).toEqual(rt.dims);
      expect(t.type).toBe(rt.type);
      expect(t.offset).toBe(rt.offset);
      expect(t.nbytes).toBe(rt.nbytes);
      const v = dequantize(t.type, tensorBytes(bytes, t), t.nElements, t.name);
      expect(Array.from(v.subarray(0, 64))).toEqual(rt.first);
      expect(Array.from(v.subarray(rt.mid_start, rt.mid_start + 64))).toEqual(rt.mid);
      expect(Array.from(v.subarray(v.length - 16))).toEqual(rt.last);
      let sum = 0, abs = 0;
      for (const x of v) { sum += x; abs += Math.abs(x); }
      // float64 sums of identical float32 values; only summation order differs.
      expect(Math.abs(sum - rt.sum)).toBeLessThanOrEqual(1e-9 * rt.abs_sum);
      expect(Math.abs(abs - rt.abs_sum)).toBeLessThanOrEqual(1e-9 * rt.abs_sum);
    });
  }

  it('repacks real Q4_1 projections for MatMulNBits to within 1e-6 of dequantize', () => {
    for (const name of ['blk.0.attn_q.weight', 'blk.0.attn_k.weight', 'blk.29.ffn_down.weight']) {
      const t = file!.tensorByName.get(name)!;
      const [K, N] = t.dims as [number, number];
      const raw = tensorBytes(bytes, t);
      const want = dequantize(t.type, raw, t.nElements, name);
      const got = dequantMatMulNBits(toMatMulNBits(t.type, raw, N, K));
      let maxAbs = 0;
      for (const v of want) maxAbs = Math.max(maxAbs, Math.abs(v));
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-6 * Math.max(1, maxAbs));
    }
  });
});
