/**
 * ggml block formats: dequantize (bit-for-bit with ggml's dequantize_row_*) and simple
 * reference quantizers (used to build tiny test models; Q8_0/Q4_0/Q4_1 match ggml's *_ref
 * quantizers byte for byte, Q4_K/Q6_K produce a valid encoding with bounded error, not the
 * importance-weighted search llama.cpp's quantize tool runs).
 *
 * Exactness of the dequantizers: every product here (fp16 scale x small integer x small integer)
 * fits in float32's 24-bit significand, so computing in double and storing into a Float32Array
 * rounds once, exactly where ggml's float32 arithmetic rounds.
 */
import { SteerlabError } from '../../errors.js';
import { GgmlType, ggmlByteSize, ggmlTypeName } from './ggml-types';
import { f16Lut, f32ToBf16Bits, f32ToF16Bits, f16BitsToF32 } from './half';
import { getScaleMinK4, u16 } from './blocks';

export * from './ggml-types';
export * from './half';
export { getScaleMinK4 } from './blocks';
export { toMatMulNBits, type MatMulNBitsWeights } from './matmulnbits';

/** Types dequantize() and quantize() handle. */
export const SUPPORTED_QUANT_TYPES: readonly number[] = [
  GgmlType.F32,
  GgmlType.F16,
  GgmlType.BF16,
  GgmlType.Q8_0,
  GgmlType.Q4_0,
  GgmlType.Q4_1,
  GgmlType.Q4_K,
  GgmlType.Q6_K,
];

function unsupported(type: number, name: string | undefined, op: string): never {
  const where = name ? ` for tensor ${name}` : '';
  throw new SteerlabError(
    'UNSUPPORTED_QUANT',
    `cannot ${op} ggml type ${ggmlTypeName(type)}${where} (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K)`,
  );
}

function checkLength(type: number, bytes: Uint8Array, nElements: number, name?: string): void {
  const what = name ? `tensor ${name}` : `${ggmlTypeName(type)} data`;
  const expected = ggmlByteSize(type, nElements, what);
  if (bytes.length !== expected) {
    throw new SteerlabError(
      'BAD_ARGUMENT',
      `${what}: ${nElements} ${ggmlTypeName(type)} elements need ${expected} bytes, got ${bytes.length}`,
    );
  }
}

/**
 * Dequantize nElements of a ggml type to float32. bytes must be exactly the tensor's data.
 * Throws UNSUPPORTED_QUANT (naming the type, and the tensor when `name` is given) for other types.
 */
export function dequantize(type: number, bytes: Uint8Array, nElements: number, name?: string): Float32Array {
  if (!SUPPORTED_QUANT_TYPES.includes(type)) unsupported(type, name, 'dequantize');
  checkLength(type, bytes, nElements, name);
  const out = new Float32Array(nElements);
  const lut = f16Lut();
  switch (type) {
    case GgmlType.F32: {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < nElements; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    }
    case GgmlType.F16:
      for (let i = 0; i < nElements; i++) out[i] = lut[u16(bytes, i * 2)]!;
      break;
    case GgmlType.BF16: {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < nElements; i++) bits[i] = u16(bytes, i * 2) << 16;
      break;
    }
    case GgmlType.Q8_0: // { fp16 d; int8 qs[32] }: w = d * q
      for (let b = 0, o = 0, y = 0; y < nElements; b++, o = b * 34) {
        const d = lut[u16(bytes, o)]!;
        for (let j = 0; j < 32; j++) out[y++] = d * ((bytes[o + 2 + j]! << 24) >> 24);
      }
      break;
    case GgmlType.Q4_0: // { fp16 d; u8 qs[16] }: element j low nibble of byte j, j+16 high nibble; w = d*(q-8)
      for (let b = 0, o = 0, y = 0; y < nElements; b++, o = b * 18, y += 32) {
        const d = lut[u16(bytes, o)]!;
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 2 + j]!;
          out[y + j] = d * ((q & 0xf) - 8);
          out[y + j + 16] = d * ((q >> 4) - 8);
        }
      }
      break;
    case GgmlType.Q4_1: // { fp16 d; fp16 m; u8 qs[16] }: same nibble order; w = d*q + m
      for (let b = 0, o = 0, y = 0; y < nElements; b++, o = b * 20, y += 32) {
        const d = lut[u16(bytes, o)]!;
        const m = lut[u16(bytes, o + 2)]!;
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 4 + j]!;
          out[y + j] = d * (q & 0xf) + m;
          out[y + j + 16] = d * (q >> 4) + m;
        }
      }
      break;
    case GgmlType.Q4_K:
      dequantizeQ4K(bytes, out, lut);
      break;
    case GgmlType.Q6_K:
      dequantizeQ6K(bytes, out, lut);
      break;
  }
  return out;
}

/**
 * block_q4_K { fp16 d; fp16 dmin; u8 scales[12]; u8 qs[128] } (144 bytes, 256 weights).
 * Eight sub-blocks of 32; each 64-weight chunk shares 32 bytes of qs: low nibbles are the first
 * sub-block, high nibbles the second. w = d*sc*q - dmin*m (dequantize_row_q4_K).
 */
function dequantizeQ4K(bytes: Uint8Array, out: Float32Array, lut: Float32Array): void {
  for (let o = 0, y = 0; y < out.length; o += 144) {
    const d = lut[u16(bytes, o)]!;
    const dmin = lut[u16(bytes, o + 2)]!;
    let q = o + 16;
    for (let is = 0; is < 8; is += 2, q += 32) {
      const [sc1, m1] = getScaleMinK4(is, bytes, o + 4);
      const [sc2, m2] = getScaleMinK4(is + 1, bytes, o + 4);
      // ggml rounds d*sc and dmin*m to float32 before use; both products are exact anyway.
      const d1 = d * sc1, min1 = dmin * m1;
      const d2 = d * sc2, min2 = dmin * m2;
      for (let l = 0; l < 32; l++) out[y++] = d1 * (bytes[q + l]! & 0xf) - min1;
      for (let l = 0; l < 32; l++) out[y++] = d2 * (bytes[q + l]! >> 4) - min2;
    }
  }
}

/**
 * block_q6_K { u8 ql[128]; u8 qh[64]; int8 scales[16]; fp16 d } (210 bytes, 256 weights).
 * Each 6-bit q is a nibble of ql plus two bits of qh, biased by 32; sixteen sub-blocks of 16 with
 * int8 scales. Loop structure copied from dequantize_row_q6_K.
 */
function dequantizeQ6K(bytes: Uint8Array, out: Float32Array, lut: Float32Array): void {
  for (let o = 0, y = 0; y < out.length; o += 210) {
    const d = lut[u16(bytes, o + 208)]!;
    let ql = o, qh = o + 128, sc = o + 192;
    for (let n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = bytes[qh + l]!;
        const q1 = ((bytes[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((bytes[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        const s = (i: number): number => (bytes[sc + i]! << 24) >> 24;
        out[y + l] = d * s(is) * q1;
        out[y + l + 32] = d * s(is + 2) * q2;
        out[y + l + 64] = d * s(is + 4) * q3;
        out[y + l + 96] = d * s(is + 6) * q4;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Quantizers
// ---------------------------------------------------------------------------------------------

const fr = Math.fround;
/** C roundf: half away from zero (Math.round rounds half toward +inf). */
const roundf = (x: number): number => (x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5));

function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >> 8) & 0xff;
}

/** Store an fp16 block scale; a scale that is not finite in fp16 would poison the whole block. */
function putScale(b: Uint8Array, o: number, bits: number): void {
  if ((bits & 0x7c00) === 0x7c00) {
    throw new SteerlabError('BAD_ARGUMENT', 'cannot quantize: input is not finite or too large for an fp16 block scale');
  }
  putU16(b, o, bits);
}

/** Smallest fp16 >= v (v >= 0): K-quant super-scales must cover the largest sub-scale. */
function f16Ceil(v: number): number {
  let h = f32ToF16Bits(v);
  if (f16BitsToF32(h) < v) h++;
  return h;
}

/**
 * Quantize float32 data to a ggml type. data.length must be a whole number of blocks.
 * Q8_0, Q4_0, Q4_1 reproduce ggml's quantize_row_*_ref (float32 arithmetic step by step);
 * Q4_K and Q6_K use a plain min/max scheme whose error is at most half a quantization step
 * (plus the 6-bit/8-bit rounding of sub-block scales, absorbed by rounding those up).
 */
export function quantize(type: number, data: Float32Array): Uint8Array {
  if (!SUPPORTED_QUANT_TYPES.includes(type)) unsupported(type, undefined, 'quantize');
  const n = data.length;
  const out = new Uint8Array(ggmlByteSize(type, n, `${ggmlTypeName(type)} quantize input`));
  switch (type) {
    case GgmlType.F32:
      new Float32Array(out.buffer).set(data); // Float32Array is little-endian on every JS host we target
      break;
    case GgmlType.F16:
      for (let i = 0; i < n; i++) putU16(out, i * 2, f32ToF16Bits(data[i]!));
      break;
    case GgmlType.BF16:
      for (let i = 0; i < n; i++) putU16(out, i * 2, f32ToBf16Bits(data[i]!));
      break;
    case GgmlType.Q8_0:
      for (let b = 0; b < n / 32; b++) {
        const x = data.subarray(b * 32, b * 32 + 32), o = b * 34;
        let amax = 0;
        for (const v of x) amax = Math.max(amax, Math.abs(v));
        const d = fr(amax / 127), id = d ? fr(1 / d) : 0;
        putScale(out, o, f32ToF16Bits(d));
        for (let j = 0; j < 32; j++) out[o + 2 + j] = roundf(fr(x[j]! * id)) & 0xff;
      }
      break;
    case GgmlType.Q4_0:
      for (let b = 0; b < n / 32; b++) {
        const x = data.subarray(b * 32, b * 32 + 32), o = b * 18;
        let amax = 0, max = 0;
        for (const v of x) if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
        const d = fr(max / -8), id = d ? fr(1 / d) : 0;
        putScale(out, o, f32ToF16Bits(d));
        for (let j = 0; j < 16; j++) {
          const x0 = Math.min(15, Math.trunc(fr(fr(x[j]! * id) + 8.5)));
          const x1 = Math.min(15, Math.trunc(fr(fr(x[j + 16]! * id) + 8.5)));
          out[o + 2 + j] = x0 | (x1 << 4);
        }
      }
      break;
    case GgmlType.Q4_1:
      for (let b = 0; b < n / 32; b++) {
        const x = data.subarray(b * 32, b * 32 + 32), o = b * 20;
        let min = Infinity, max = -Infinity;
        for (const v of x) { min = Math.min(min, v); max = Math.max(max, v); }
        const d = fr(fr(max - min) / 15), id = d ? fr(1 / d) : 0;
        putScale(out, o, f32ToF16Bits(d));
        putScale(out, o + 2, f32ToF16Bits(min));
        for (let j = 0; j < 16; j++) {
          const x0 = Math.min(15, Math.trunc(fr(fr(fr(x[j]! - min) * id) + 0.5)));
          const x1 = Math.min(15, Math.trunc(fr(fr(fr(x[j + 16]! - min) * id) + 0.5)));
          out[o + 4 + j] = x0 | (x1 << 4);
        }
      }
      break;
    case GgmlType.Q4_K:
      for (let b = 0; b < n / 256; b++) quantizeQ4KBlock(data.subarray(b * 256, b * 256 + 256), out, b * 144);
      break;
    case GgmlType.Q6_K:
      for (let b = 0; b < n / 256; b++) quantizeQ6KBlock(data.subarray(b * 256, b * 256 + 256), out, b * 210);
      break;
  }
  return out;
}

function quantizeQ4KBlock(x: Float32Array, out: Uint8Array, o: number): void {
  // Per 32-weight sub-block s: w = d*ls[s]*q - dmin*lm[s], q in 0..15, ls/lm 6-bit.
  const mins = new Float64Array(8), maxs = new Float64Array(8);
  let maxMin = 0;
  for (let s = 0; s < 8; s++) {
    let mn = 0, mx = -Infinity; // the offset is subtracted, so ranges always include zero from below
    for (let l = 0; l < 32; l++) { mn = Math.min(mn, x[s * 32 + l]!); mx = Math.max(mx, x[s * 32 + l]!); }
    mins[s] = -mn;
    maxs[s] = Math.max(mx, 0);
    maxMin = Math.max(maxMin, -mn);
  }
  const dminBits = f32ToF16Bits(maxMin / 63), dmin = f16BitsToF32(dminBits);
  const lm = new Uint8Array(8), ls = new Uint8Array(8), need = new Float64Array(8);
  let maxNeed = 0;
  for (let s = 0; s < 8; s++) {
    lm[s] = dmin > 0 ? Math.min(63, Math.round(mins[s]! / dmin)) : 0;
    // Scale that maps the span [-dmin*lm, max] onto 0..15.
    need[s] = (maxs[s]! + dmin * lm[s]!) / 15;
    maxNeed = Math.max(maxNeed, need[s]!);
  }
  const dBits = f16Ceil(maxNeed / 63), d = f16BitsToF32(dBits);
  for (let s = 0; s < 8; s++) ls[s] = d > 0 ? Math.min(63, Math.ceil(need[s]! / d - 1e-9)) : 0;
  putScale(out, o, dBits);
  putScale(out, o + 2, dminBits);
  const sc = o + 4;
  for (let j = 0; j < 8; j++) {
    // Inverse of getScaleMinK4's packing.
    if (j < 4) {
      out[sc + j] = ls[j]!;
      out[sc + j + 4] = lm[j]!;
    } else {
      out[sc + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
      out[sc + j - 4] |= (ls[j]! >> 4) << 6;
      out[sc + j] |= (lm[j]! >> 4) << 6;
    }
  }
  for (let s = 0; s < 8; s++) {
    const step = d * ls[s]!, off = dmin * lm[s]!;
    const qo = o + 16 + (s >> 1) * 32, shift = (s & 1) * 4;
    for (let l = 0; l < 32; l++) {
      const q = step > 0 ? Math.max(0, Math.min(15, Math.round((x[s * 32 + l]! + off) / step))) : 0;
      out[qo + l] |= q << shift;
    }
  }
}

function quantizeQ6KBlock(x: Float32Array, out: Uint8Array, o: number): void {
  // Sixteen 16-weight sub-blocks: w = d*sc[s]*(q-32), q-32 in -32..31; we use the symmetric -31..31.
  const want = new Float64Array(16);
  let maxWant = 0;
  for (let s = 0; s < 16; s++) {
    let amax = 0;
    for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[s * 16 + l]!));
    want[s] = amax / 31;
    maxWant = Math.max(maxWant, want[s]!);
  }
  const dBits = f16Ceil(maxWant / 127), d = f16BitsToF32(dBits);
  const L = new Uint8Array(256);
  for (let s = 0; s < 16; s++) {
    const isc = d > 0 ? Math.min(127, Math.ceil(want[s]! / d - 1e-9)) : 0;
    out[o + 192 + s] = isc;
    const step = d * isc;
    for (let l = 0; l < 16; l++) {
      const q = step > 0 ? Math.max(-32, Math.min(31, Math.round(x[s * 16 + l]! / step))) : 0;
      L[s * 16 + l] = q + 32;
    }
  }
  putScale(out, o + 208, dBits);
  // Inverse of dequantizeQ6K's bit layout.
  for (let n = 0; n < 2; n++) {
    const ql = o + n * 64, qh = o + 128 + n * 32, base = n * 128;
    for (let l = 0; l < 32; l++) {
      const q1 = L[base + l]!, q2 = L[base + l + 32]!, q3 = L[base + l + 64]!, q4 = L[base + l + 96]!;
      out[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
      out[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
      out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
    }
  }
}

/** True when dequantize() and quantize() handle this type id. */
export function canDequantize(type: number): boolean {
  return SUPPORTED_QUANT_TYPES.includes(type);
}
