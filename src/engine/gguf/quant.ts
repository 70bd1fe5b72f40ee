/**
 * ggml block formats: dequantize (bit-for-bit with ggml's dequantize_row_* and gguf-py's
 * dequantizers) and simple reference quantizers (used to build tiny test models;
 * Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 match ggml's *_ref quantizers byte for byte, Q4_K/Q6_K produce a
 * valid encoding with bounded error, not the importance-weighted search llama.cpp's quantize
 * tool runs; so do Q2_K/Q3_K/Q5_K).
 *
 * Exactness of the dequantizers: every product here (fp16 scale x small integer x small integer)
 * fits in float32's 24-bit significand, so computing in double and storing into a Float32Array
 * rounds once, exactly where ggml's float32 arithmetic rounds.
 */
import { SteerlabError } from '../../errors.js';
import { GgmlType, ggmlByteSize, ggmlTypeName } from './ggml-types';
import { f16Lut, f32ToBf16Bits, f32ToF16Bits, f16BitsToF32 } from './half';
import { getScaleMinK4, u16, u32 } from './blocks';

export * from './ggml-types';
export * from './half';
export { getScaleMinK4 } from './blocks';
export { toMatMulNBits, toMatMulNBits8, type MatMulNBitsWeights, type MatMulNBits8Weights } from './matmulnbits';

/** Types dequantize() handles. */
export const SUPPORTED_QUANT_TYPES: readonly number[] = [
  GgmlType.F32,
  GgmlType.F16,
  GgmlType.BF16,
  GgmlType.Q8_0,
  GgmlType.Q4_0,
  GgmlType.Q4_1,
  GgmlType.Q5_0,
  GgmlType.Q5_1,
  GgmlType.Q2_K,
  GgmlType.Q3_K,
  GgmlType.Q4_K,
  GgmlType.Q5_K,
  GgmlType.Q6_K,
];

/** Types quantize() handles (all of them; see quantize() for which encodings are ggml's own). */
export const QUANTIZE_TYPES: readonly number[] = SUPPORTED_QUANT_TYPES;

/** "F32, F16, ..." for messages: the types a GGUF's weights may use. */
export const SUPPORTED_QUANT_NAMES: string = SUPPORTED_QUANT_TYPES.map(ggmlTypeName).join(', ');

function unsupported(type: number, name: string | undefined, op: string): never {
  const where = name ? ` for tensor ${name}` : '';
  const list = op === 'quantize' ? QUANTIZE_TYPES.map(ggmlTypeName).join(', ') : SUPPORTED_QUANT_NAMES;
  throw new SteerlabError('UNSUPPORTED_QUANT', `cannot ${op} ggml type ${ggmlTypeName(type)}${where} (supported: ${list})`);
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
    case GgmlType.Q5_0: // { fp16 d; u8 qh[4]; u8 qs[16] }: Q4_0's nibbles plus bit j of qh as bit 4; w = d*(q-16)
      for (let b = 0, o = 0, y = 0; y < nElements; b++, o = b * 22, y += 32) {
        const d = lut[u16(bytes, o)]!;
        const qh = u32(bytes, o + 2);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 6 + j]!;
          out[y + j] = d * (((q & 0xf) | (((qh >>> j) & 1) << 4)) - 16);
          out[y + j + 16] = d * (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16);
        }
      }
      break;
    case GgmlType.Q5_1: // { fp16 d; fp16 m; u8 qh[4]; u8 qs[16] }: same bits; w = d*q + m
      for (let b = 0, o = 0, y = 0; y < nElements; b++, o = b * 24, y += 32) {
        const d = lut[u16(bytes, o)]!;
        const m = lut[u16(bytes, o + 2)]!;
        const qh = u32(bytes, o + 4);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 8 + j]!;
          out[y + j] = d * ((q & 0xf) | (((qh >>> j) & 1) << 4)) + m;
          out[y + j + 16] = d * ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) + m;
        }
      }
      break;
    case GgmlType.Q2_K:
      dequantizeQ2K(bytes, out, lut);
      break;
    case GgmlType.Q3_K:
      dequantizeQ3K(bytes, out, lut);
      break;
    case GgmlType.Q4_K:
      dequantizeQ4K(bytes, out, lut);
      break;
    case GgmlType.Q5_K:
      dequantizeQ5K(bytes, out, lut);
      break;
    case GgmlType.Q6_K:
      dequantizeQ6K(bytes, out, lut);
      break;
  }
  return out;
}

/**
 * block_q2_K { u8 scales[16]; u8 qs[64]; fp16 d; fp16 dmin } (84 bytes, 256 weights).
 * Sixteen sub-blocks of 16; scales[s] holds the 4-bit scale (low) and 4-bit min (high). Each
 * 128-weight half reads 32 bytes of qs four times, two bits at a time (shift 0, 2, 4, 6), each
 * pass giving 32 consecutive weights. w = d*sc*q - dmin*m (dequantize_row_q2_K).
 *
 * Exactness: d*sc and dmin*m are exact in float32 (11 x 4 bits), and dl*q - ml is exact in
 * double (every term is a multiple of 2^-24 below 2^22), so the one rounding on store is ggml's.
 */
function dequantizeQ2K(bytes: Uint8Array, out: Float32Array, lut: Float32Array): void {
  for (let o = 0, y = 0; y < out.length; o += 84) {
    const d = lut[u16(bytes, o + 80)]!;
    const dmin = lut[u16(bytes, o + 82)]!;
    let is = 0;
    for (let n = 0; n < 2; n++) {
      const q = o + 16 + n * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++, is++) {
          const sc = bytes[o + is]!;
          const dl = d * (sc & 0xf), ml = dmin * (sc >> 4);
          for (let l = half * 16; l < half * 16 + 16; l++) out[y++] = dl * ((bytes[q + l]! >> shift) & 3) - ml;
        }
      }
    }
  }
}

/**
 * block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; fp16 d } (110 bytes, 256 weights).
 * q = two bits of qs (Q2_K's order) minus 4 where the weight's hmask bit is clear (weight
 * 32k + l uses bit k of hmask[l]); sixteen 6-bit scales biased by 32: the low nibble is byte
 * s (s < 8) or the high nibble of byte s-8, the top two bits come from byte 8 + s%4 at shift
 * 2*(s/4). w = d*(sc-32)*q (dequantize_row_q3_K). Exact: every product fits float32.
 */
function dequantizeQ3K(bytes: Uint8Array, out: Float32Array, lut: Float32Array): void {
  const sc = new Int8Array(16);
  for (let o = 0, y = 0; y < out.length; o += 110) {
    const d = lut[u16(bytes, o + 108)]!;
    const s = o + 96;
    for (let i = 0; i < 16; i++) {
      const low = i < 8 ? bytes[s + i]! & 0xf : bytes[s + i - 8]! >> 4;
      const high = (bytes[s + 8 + (i & 3)]! >> (2 * (i >> 2))) & 3;
      sc[i] = (low | (high << 4)) - 32;
    }
    let is = 0, k = 0;
    for (let n = 0; n < 2; n++) {
      const q = o + 32 + n * 32;
      for (let shift = 0; shift < 8; shift += 2, k++) {
        for (let half = 0; half < 2; half++, is++) {
          const dl = d * sc[is]!;
          for (let l = half * 16; l < half * 16 + 16; l++) {
            const hbit = (bytes[o + l]! >> k) & 1;
            out[y++] = dl * (((bytes[q + l]! >> shift) & 3) - (hbit ? 0 : 4));
          }
        }
      }
    }
  }
}

/**
 * block_q5_K { fp16 d; fp16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] } (176 bytes).
 * Q4_K's nibbles and 6-bit scales/mins plus a fifth bit: sub-block s (of 32) takes bit s of
 * qh[l]. w = d*sc*q - dmin*m (dequantize_row_q5_K); exact as for Q4_K.
 */
function dequantizeQ5K(bytes: Uint8Array, out: Float32Array, lut: Float32Array): void {
  for (let o = 0, y = 0; y < out.length; o += 176) {
    const d = lut[u16(bytes, o)]!;
    const dmin = lut[u16(bytes, o + 2)]!;
    const qh = o + 16;
    for (let s = 0; s < 8; s++) {
      const [sc, m] = getScaleMinK4(s, bytes, o + 4);
      const d1 = d * sc, m1 = dmin * m;
      const ql = o + 48 + (s >> 1) * 32, shift = (s & 1) * 4;
      for (let l = 0; l < 32; l++) {
        out[y++] = d1 * (((bytes[ql + l]! >> shift) & 0xf) | (((bytes[qh + l]! >> s) & 1) << 4)) - m1;
      }
    }
  }
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

function putU32(b: Uint8Array, o: number, v: number): void {
  for (let i = 0; i < 4; i++) b[o + i] = (v >>> (8 * i)) & 0xff;
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
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 reproduce ggml's quantize_row_*_ref (float32 arithmetic step by step);
 * Q2_K, Q3_K, Q4_K, Q5_K and Q6_K use a plain min/max scheme whose error is at most half a
 * quantization step (plus the rounding of sub-block scales, absorbed by rounding those up; Q3_K
 * and Q6_K are symmetric and leave their most negative level unused).
 */
export function quantize(type: number, data: Float32Array): Uint8Array {
  if (!QUANTIZE_TYPES.includes(type)) unsupported(type, undefined, 'quantize');
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
    case GgmlType.Q5_0:
      for (let b = 0; b < n / 32; b++) {
        const x = data.subarray(b * 32, b * 32 + 32), o = b * 22;
        let amax = 0, max = 0;
        for (const v of x) if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
        const d = fr(max / -16), id = d ? fr(1 / d) : 0;
        putScale(out, o, f32ToF16Bits(d));
        let qh = 0;
        for (let j = 0; j < 16; j++) {
          const x0 = Math.min(31, Math.trunc(fr(fr(x[j]! * id) + 16.5)));
          const x1 = Math.min(31, Math.trunc(fr(fr(x[j + 16]! * id) + 16.5)));
          out[o + 6 + j] = (x0 & 0xf) | ((x1 & 0xf) << 4);
          qh |= ((x0 >> 4) << j) | ((x1 >> 4) << (j + 16));
        }
        putU32(out, o + 2, qh);
      }
      break;
    case GgmlType.Q5_1:
      for (let b = 0; b < n / 32; b++) {
        const x = data.subarray(b * 32, b * 32 + 32), o = b * 24;
        let min = Infinity, max = -Infinity;
        for (const v of x) { min = Math.min(min, v); max = Math.max(max, v); }
        const d = fr(fr(max - min) / 31), id = d ? fr(1 / d) : 0;
        putScale(out, o, f32ToF16Bits(d));
        putScale(out, o + 2, f32ToF16Bits(min));
        let qh = 0;
        for (let j = 0; j < 16; j++) {
          const x0 = Math.min(31, Math.trunc(fr(fr(fr(x[j]! - min) * id) + 0.5)));
          const x1 = Math.min(31, Math.trunc(fr(fr(fr(x[j + 16]! - min) * id) + 0.5)));
          out[o + 8 + j] = (x0 & 0xf) | ((x1 & 0xf) << 4);
          qh |= ((x0 >> 4) << j) | ((x1 >> 4) << (j + 16));
        }
        putU32(out, o + 4, qh);
      }
      break;
    case GgmlType.Q2_K:
      for (let b = 0; b < n / 256; b++) quantizeQ2KBlock(data.subarray(b * 256, b * 256 + 256), out, b * 84);
      break;
    case GgmlType.Q3_K:
      for (let b = 0; b < n / 256; b++) quantizeQ3KBlock(data.subarray(b * 256, b * 256 + 256), out, b * 110);
      break;
    case GgmlType.Q5_K:
      for (let b = 0; b < n / 256; b++) quantizeQ5KBlock(data.subarray(b * 256, b * 256 + 256), out, b * 176);
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

/**
 * Shared min/max scheme of the affine K-quants (Q2_K, Q4_K, Q5_K): sub-block s of `sub` weights
 * is w = d*ls[s]*q - dmin*lm[s] with q in 0..qMax and ls, lm in 0..lMax. The offsets are rounded
 * to the nearest step of dmin, the scales rounded up so each span [-dmin*lm, max] fits 0..qMax.
 * Returns the fp16 bits of d and dmin, the sub-block scales/mins, and q per weight.
 */
function affineK(x: Float32Array, sub: number, qMax: number, lMax: number): { dBits: number; dminBits: number; ls: Uint8Array; lm: Uint8Array; q: Uint8Array } {
  const nSub = 256 / sub;
  const mins = new Float64Array(nSub), maxs = new Float64Array(nSub);
  let maxMin = 0;
  for (let s = 0; s < nSub; s++) {
    let mn = 0, mx = -Infinity; // the offset is subtracted, so ranges always include zero from below
    for (let l = 0; l < sub; l++) { mn = Math.min(mn, x[s * sub + l]!); mx = Math.max(mx, x[s * sub + l]!); }
    mins[s] = -mn;
    maxs[s] = Math.max(mx, 0);
    maxMin = Math.max(maxMin, -mn);
  }
  const dminBits = f32ToF16Bits(maxMin / lMax), dmin = f16BitsToF32(dminBits);
  const lm = new Uint8Array(nSub), ls = new Uint8Array(nSub), need = new Float64Array(nSub);
  let maxNeed = 0;
  for (let s = 0; s < nSub; s++) {
    lm[s] = dmin > 0 ? Math.min(lMax, Math.round(mins[s]! / dmin)) : 0;
    need[s] = (maxs[s]! + dmin * lm[s]!) / qMax;
    maxNeed = Math.max(maxNeed, need[s]!);
  }
  const dBits = f16Ceil(maxNeed / lMax), d = f16BitsToF32(dBits);
  const q = new Uint8Array(256);
  for (let s = 0; s < nSub; s++) {
    ls[s] = d > 0 ? Math.min(lMax, Math.ceil(need[s]! / d - 1e-9)) : 0;
    const step = d * ls[s]!, off = dmin * lm[s]!;
    for (let l = 0; l < sub; l++) q[s * sub + l] = step > 0 ? Math.max(0, Math.min(qMax, Math.round((x[s * sub + l]! + off) / step))) : 0;
  }
  return { dBits, dminBits, ls, lm, q };
}

/** Q4_K/Q5_K's 12-byte scales: the inverse of getScaleMinK4. */
function packScaleMinK4(ls: Uint8Array, lm: Uint8Array, out: Uint8Array, sc: number): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      out[sc + j] = ls[j]!;
      out[sc + j + 4] = lm[j]!;
    } else {
      out[sc + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
      out[sc + j - 4] |= (ls[j]! >> 4) << 6;
      out[sc + j] |= (lm[j]! >> 4) << 6;
    }
  }
}

function quantizeQ5KBlock(x: Float32Array, out: Uint8Array, o: number): void {
  const { dBits, dminBits, ls, lm, q } = affineK(x, 32, 31, 63);
  putScale(out, o, dBits);
  putScale(out, o + 2, dminBits);
  packScaleMinK4(ls, lm, out, o + 4);
  // Inverse of dequantizeQ5K: low nibble in qs like Q4_K, bit 4 of sub-block s in bit s of qh[l].
  for (let s = 0; s < 8; s++) {
    const qo = o + 48 + (s >> 1) * 32, shift = (s & 1) * 4;
    for (let l = 0; l < 32; l++) {
      const v = q[s * 32 + l]!;
      out[qo + l] |= (v & 0xf) << shift;
      out[o + 16 + l] |= (v >> 4) << s;
    }
  }
}

function quantizeQ2KBlock(x: Float32Array, out: Uint8Array, o: number): void {
  const { dBits, dminBits, ls, lm, q } = affineK(x, 16, 3, 15);
  for (let s = 0; s < 16; s++) out[o + s] = ls[s]! | (lm[s]! << 4);
  // Inverse of dequantizeQ2K: weight n*128 + j*32 + l sits in bits 2j of qs[n*32 + l].
  for (let e = 0; e < 256; e++) out[o + 16 + (e >> 7) * 32 + (e & 31)] |= q[e]! << (2 * ((e >> 5) & 3));
  putScale(out, o + 80, dBits);
  putScale(out, o + 82, dminBits);
}

/** Per 16-weight sub-block of a 256-weight super-block: the step max|x|/qmax it wants, and the largest of them. */
function subBlockSteps(x: Float32Array, qmax: number): { want: Float64Array; maxWant: number } {
  const want = new Float64Array(16);
  let maxWant = 0;
  for (let s = 0; s < 16; s++) {
    let amax = 0;
    for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[s * 16 + l]!));
    want[s] = amax / qmax;
    maxWant = Math.max(maxWant, want[s]!);
  }
  return { want, maxWant };
}

function quantizeQ3KBlock(x: Float32Array, out: Uint8Array, o: number): void {
  // Sixteen 16-weight sub-blocks: w = d*sc[s]*q, sc in -32..31, q in -4..3; we use 0..31 and -3..3.
  const { want, maxWant } = subBlockSteps(x, 3);
  const dBits = f16Ceil(maxWant / 31), d = f16BitsToF32(dBits);
  for (let s = 0; s < 16; s++) {
    const isc = d > 0 ? Math.min(31, Math.ceil(want[s]! / d - 1e-9)) : 0;
    const v = isc + 32; // stored biased by 32, 6 bits
    if (s < 8) out[o + 96 + s] |= v & 0xf;
    else out[o + 96 + s - 8] |= (v & 0xf) << 4;
    out[o + 104 + (s & 3)] |= (v >> 4) << (2 * (s >> 2));
    const step = d * isc;
    for (let l = 0; l < 16; l++) {
      const e = s * 16 + l;
      const qv = step > 0 ? Math.max(-4, Math.min(3, Math.round(x[e]! / step))) : 0;
      // Inverse of dequantizeQ3K: the two low bits like Q2_K; hmask bit (e>>5) of byte e&31 set when q >= 0.
      out[o + 32 + (e >> 7) * 32 + (e & 31)] |= (qv & 3) << (2 * ((e >> 5) & 3));
      if (qv >= 0) out[o + (e & 31)] |= 1 << (e >> 5);
    }
  }
  putScale(out, o + 108, dBits);
}

function quantizeQ6KBlock(x: Float32Array, out: Uint8Array, o: number): void {
  // Sixteen 16-weight sub-blocks: w = d*sc[s]*(q-32), q-32 in -32..31; we use the symmetric -31..31.
  const { want, maxWant } = subBlockSteps(x, 31);
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

/** True when dequantize() handles this type id. */
export function canDequantize(type: number): boolean {
  return SUPPORTED_QUANT_TYPES.includes(type);
}

/** True when quantize() handles this type id. */
export function canQuantize(type: number): boolean {
  return QUANTIZE_TYPES.includes(type);
}
