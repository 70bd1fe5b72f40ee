/**
 * Q5_0, Q5_1, Q2_K, Q3_K, Q5_K: our dequantizers against gguf-py's, bit for bit, on the
 * fixtures tests/fixtures/make_quant_fixtures.py wrote; gguf-py's Q5_0/Q5_1 encoders against
 * ours, and our simple Q2_K/Q3_K/Q5_K encoders by round trip; the exact 8-bit MatMulNBits
 * repacking of Q5_0/Q3_K; and a GGUF carrying an unsupported type (IQ2_XXS) failing with one
 * line that names it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SteerlabError } from '../src/errors.js';
import { parseGguf, tensorBytes } from '../src/engine/gguf/reader';
import { writeGguf } from '../src/engine/gguf/writer';
import {
  GgmlType,
  SUPPORTED_QUANT_NAMES,
  canDequantize,
  canQuantize,
  dequantize,
  ggmlTypeInfo,
  quantize,
  toMatMulNBits8,
} from '../src/engine/gguf/quant';
import { matrixToFloat } from '../src/engine/model/types';

interface Fixture {
  generator: string;
  type: number;
  name: string;
  n_elements: number;
  bytes_b64: string;
  values_f32_b64: string;
  quantize?: { input_f32_b64: string; bytes_b64: string };
}
const TYPES = ['Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q5_K'] as const;
const fixture = (name: string): Fixture => JSON.parse(readFileSync(`tests/fixtures/quant/${name}.json`, 'utf8')) as Fixture;
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const f32 = (s: string): Float32Array => {
  const b = b64(s);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
};
const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function thrown(f: () => unknown): SteerlabError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SteerlabError);
    return e as SteerlabError;
  }
  throw new Error('expected a SteerlabError');
}

describe('more ggml types: dequantize matches gguf-py bit for bit', () => {
  for (const name of TYPES) {
    it(`${name}: random blocks with zero, -0, subnormal and mixed-sign scales`, () => {
      const fx = fixture(name);
      expect(fx.name).toBe(name);
      expect(fx.type).toBe(GgmlType[name]);
      expect(canDequantize(fx.type)).toBe(true);
      const raw = b64(fx.bytes_b64);
      const info = ggmlTypeInfo(fx.type)!;
      expect(raw.length).toBe((fx.n_elements / info.blockSize) * info.typeSize);
      const got = dequantize(fx.type, raw, fx.n_elements, `test.${name}`);
      const want = f32(fx.values_f32_b64);
      expect(got.length).toBe(want.length);
      const bad: number[] = [];
      for (let i = 0; i < want.length && bad.length < 5; i++) if (!Object.is(got[i], want[i])) bad.push(i);
      expect(bad.map((i) => `${i}: ${got[i]} vs ${want[i]}`)).toEqual([]);
      expect(bits(got).equals(bits(want))).toBe(true);
    });
  }

  it('rejects a byte length that is not the element count', () => {
    const e = thrown(() => dequantize(GgmlType.Q5_K, new Uint8Array(175), 256, 'blk.0.ffn_up.weight'));
    expect(e.code).toBe('BAD_ARGUMENT');
    expect(e.message).toContain('176 bytes');
    expect(thrown(() => dequantize(GgmlType.Q2_K, new Uint8Array(84), 128)).code).toBe('BAD_ARGUMENT');
  });
});

describe('quantize: Q5_0 / Q5_1 like gguf-py (ggml quantize_row_*_ref), Q2_K / Q3_K / Q5_K valid and close', () => {
  for (const name of ['Q5_0', 'Q5_1'] as const) {
    it(`${name}: byte-identical encoding, and it round-trips within half a step`, () => {
      const fx = fixture(name);
      const x = f32(fx.quantize!.input_f32_b64);
      const enc = quantize(GgmlType[name], x);
      expect(Buffer.from(enc).equals(Buffer.from(b64(fx.quantize!.bytes_b64)))).toBe(true);
      const back = dequantize(GgmlType[name], enc, x.length);
      for (let b = 0; b < x.length / 32; b++) {
        const blk = x.subarray(b * 32, b * 32 + 32);
        const span = Math.max(...blk.map(Math.abs)) * 2;
        for (let j = 0; j < 32; j++) expect(Math.abs(back[b * 32 + j]! - blk[j]!)).toBeLessThanOrEqual(span / 31 / 2 * 1.01 + 1e-7);
      }
    });
  }

  it('all five encoders round-trip a signal with the expected relative error (Q2_K/Q3_K/Q5_K: min/max scheme)', () => {
    let seed = 5;
    const u = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed / 2147483648);
    const x = Float32Array.from({ length: 2048 }, () => 0.05 * Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()));
    x.fill(0, 512, 768); // an all-zero super-block
    x[1000] = 2; // an outlier
    for (let i = 1280; i < 1536; i++) x[i] = Math.abs(x[i]!); // all positive
    for (let i = 1536; i < 1792; i++) x[i] = -Math.abs(x[i]!); // all negative
    const rms = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
    const tol: Array<[keyof typeof GgmlType, number]> = [['Q5_0', 0.08], ['Q5_1', 0.06], ['Q5_K', 0.06], ['Q3_K', 0.25], ['Q2_K', 0.4]];
    for (const [name, t] of tol) {
      expect(canQuantize(GgmlType[name])).toBe(true);
      const y = dequantize(GgmlType[name], quantize(GgmlType[name], x), x.length);
      const err = Math.sqrt(x.reduce((a, v, i) => a + (v - y[i]!) ** 2, 0) / x.length);
      expect(err / rms, name).toBeLessThanOrEqual(t);
      for (let i = 512; i < 768; i++) expect(Math.abs(y[i]!), `${name} zero block`).toBe(0);
    }
  });

  it('types without an encoder are refused by quantize, naming the type', () => {
    for (const t of [GgmlType.IQ2_XXS, GgmlType.Q8_1]) {
      expect(canQuantize(t)).toBe(false);
      const e = thrown(() => quantize(t, new Float32Array(256)));
      expect(e.code).toBe('UNSUPPORTED_QUANT');
      expect(e.message).toContain(ggmlTypeInfo(t)!.name);
    }
  });
});

describe('8-bit MatMulNBits repacking of Q5_0 and Q3_K is exact', () => {
  for (const name of ['Q5_0', 'Q3_K'] as const) {
    it(`${name}: scale * (B - 128) equals the dequantized weight`, () => {
      const fx = fixture(name);
      const raw = b64(fx.bytes_b64);
      const K = name === 'Q5_0' ? 64 : 256;
      const N = fx.n_elements / K;
      const q = toMatMulNBits8(GgmlType[name], raw, N, K);
      expect(q.B.length).toBe(N * K);
      expect(q.scales.length).toBe((N * K) / 32);
      const got = matrixToFloat({ kind: 'nbits', rows: N, cols: K, bits: 8, blockSize: 32, B: q.B, scales: q.scales, zeroPoints: null });
      const want = dequantize(GgmlType[name], raw, fx.n_elements);
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
      expect(maxDiff).toBe(0); // equal values (a zero may differ in sign)
    });
  }

  it('refuses types with a per-block offset and bad shapes', () => {
    expect(thrown(() => toMatMulNBits8(GgmlType.Q5_1, new Uint8Array(24), 1, 32)).code).toBe('UNSUPPORTED_QUANT');
    expect(thrown(() => toMatMulNBits8(GgmlType.Q5_K, new Uint8Array(176), 1, 256)).message).toContain('Q5_K');
    expect(thrown(() => toMatMulNBits8(GgmlType.Q3_K, new Uint8Array(110 * 4), 8, 128)).code).toBe('BAD_ARGUMENT');
    expect(thrown(() => toMatMulNBits8(GgmlType.Q5_0, new Uint8Array(21), 1, 32)).code).toBe('BAD_ARGUMENT');
  });
});

describe('unsupported types keep failing with one clear line', () => {
  it('a GGUF tensor in IQ2_XXS is read, but dequantizing it names the type and the tensor', () => {
    const file = writeGguf({
      metadata: [['general.architecture', 'llama']],
      tensors: [{ name: 'blk.0.ffn_down.weight', dims: [256, 2], type: GgmlType.IQ2_XXS, data: new Uint8Array(66 * 2) }],
    });
    const f = parseGguf(file);
    const t = f.tensorByName.get('blk.0.ffn_down.weight')!;
    expect(canDequantize(t.type)).toBe(false);
    const e = thrown(() => dequantize(t.type, tensorBytes(file, t), t.nElements, t.name));
    expect(e.code).toBe('UNSUPPORTED_QUANT');
    expect(e.message).toContain('IQ2_XXS');
    expect(e.message).toContain('blk.0.ffn_down.weight');
    expect(e.message).not.toContain('\n');
    expect(e.message).toContain(`supported: ${SUPPORTED_QUANT_NAMES}`);
    expect(SUPPORTED_QUANT_NAMES).toBe('F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K');
  });
});
