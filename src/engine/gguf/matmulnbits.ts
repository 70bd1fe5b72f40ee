/**
 * Repack 4-bit GGUF weights for onnxruntime's com.microsoft MatMulNBits (bits=4, block_size=32).
 *
 * MatMulNBits computes Y = A @ dequant(B)^T with B laid out [N, K/32, 16]: row n is output
 * feature n, each 32-input block is 16 bytes holding consecutive elements 2i (low nibble) and
 * 2i+1 (high nibble), and w = scale * (q - zero_point) per block. ggml's Q4_0/Q4_1 put element
 * j and j+16 in one byte instead, and Q4_K packs two 32-weight sub-blocks into one 32-byte run,
 * so the nibbles must be reshuffled, never copied.
 *
 * A GGUF weight with dims [K, N] (ne0 = K first) is stored as N rows of K contiguous inputs,
 * which is already MatMulNBits' row order: no transpose is needed.
 */
import { SteerlabError } from '../../errors.js';
import { getScaleMinK4, u16, u32 } from './blocks';
import { GgmlType, ggmlByteSize, ggmlTypeName } from './ggml-types';
import { f16Lut } from './half';

export interface MatMulNBitsWeights {
  /** [N, K/32, 16] packed 4-bit weights, element 2i in the low nibble. */
  B: Uint8Array;
  /** [N * K/32] per-block scales. */
  scales: Float32Array;
  /**
   * Per-block zero points. null for Q4_0: its zero point is 8, which is MatMulNBits' default
   * when the zero_points input is omitted. Float32Array [N * K/32] (same element type as the
   * scales, as MatMulNBits requires for float zero points) for Q4_1 and Q4_K.
   */
  zeroPoints: Float32Array | null;
  N: number;
  K: number;
  bits: 4;
  blockSize: 32;
}

/**
 * Convert a Q4_0, Q4_1 or Q4_K weight of N rows by K inputs. Other types throw UNSUPPORTED_QUANT.
 *
 * Exactness: Q4_0 and the scales are exact; the float zero points (-m/d for Q4_1,
 * dmin*m/(d*sc) for Q4_K) are rounded to float32, so scale*(q - zp) matches ggml's d*q + m to
 * about 1e-7 relative to |m|. A block with zero scale is rewritten as q = 0, scale = its constant
 * value, zp = -1, which reproduces that constant exactly.
 */
export function toMatMulNBits(type: number, bytes: Uint8Array, N: number, K: number): MatMulNBitsWeights {
  if (type !== GgmlType.Q4_0 && type !== GgmlType.Q4_1 && type !== GgmlType.Q4_K) {
    throw new SteerlabError(
      'UNSUPPORTED_QUANT',
      `MatMulNBits repacking handles Q4_0, Q4_1 and Q4_K, not ${ggmlTypeName(type)}`,
    );
  }
  if (!Number.isSafeInteger(N) || !Number.isSafeInteger(K) || N <= 0 || K <= 0 || K % 32 !== 0) {
    throw new SteerlabError('BAD_ARGUMENT', `MatMulNBits needs positive N and K with K a multiple of 32 (got N=${N}, K=${K})`);
  }
  // ggml needs every row to be whole blocks, so rows of a Q4_K weight are multiples of 256.
  if (type === GgmlType.Q4_K && K % 256 !== 0) {
    throw new SteerlabError('BAD_ARGUMENT', `Q4_K rows must be a multiple of 256 inputs (K=${K})`);
  }
  const expected = ggmlByteSize(type, N * K, `${ggmlTypeName(type)} weight ${N}x${K}`);
  if (bytes.length !== expected) {
    throw new SteerlabError('BAD_ARGUMENT', `${ggmlTypeName(type)} weight ${N}x${K} needs ${expected} bytes, got ${bytes.length}`);
  }
  const nBlocks = (N * K) / 32; // row-major blocks: block index = n * K/32 + kb
  const B = new Uint8Array(nBlocks * 16);
  const scales = new Float32Array(nBlocks);
  const lut = f16Lut();

  // Pack 32 nibbles q[0..31] (given by get(l)) into MatMulNBits' consecutive-pair layout.
  const pack = (blk: number, get: (l: number) => number): void => {
    const o = blk * 16;
    for (let i = 0; i < 16; i++) B[o + i] = get(2 * i) | (get(2 * i + 1) << 4);
  };

  if (type === GgmlType.Q4_0) {
    for (let blk = 0; blk < nBlocks; blk++) {
      const o = blk * 18;
      scales[blk] = lut[u16(bytes, o)]!;
      // ggml element l lives in byte l%16, low nibble for l < 16, high for l >= 16.
      pack(blk, (l) => (l < 16 ? bytes[o + 2 + l]! & 0xf : bytes[o + 2 + l - 16]! >> 4));
    }
    return { B, scales, zeroPoints: null, N, K, bits: 4, blockSize: 32 };
  }

  const zeroPoints = new Float32Array(nBlocks);
  // w = scale*(q - zp) from w = step*q - offset; a zero step means the block is the constant -offset.
  const setAffine = (blk: number, step: number, offset: number, get: (l: number) => number): void => {
    if (step === 0) {
      scales[blk] = -offset;
      zeroPoints[blk] = -1;
      pack(blk, () => 0);
    } else {
      scales[blk] = step;
      zeroPoints[blk] = offset / step;
      pack(blk, get);
    }
  };

  if (type === GgmlType.Q4_1) {
    for (let blk = 0; blk < nBlocks; blk++) {
      const o = blk * 20;
      const d = lut[u16(bytes, o)]!, m = lut[u16(bytes, o + 2)]!;
      setAffine(blk, d, -m, (l) => (l < 16 ? bytes[o + 4 + l]! & 0xf : bytes[o + 4 + l - 16]! >> 4));
    }
    return { B, scales, zeroPoints, N, K, bits: 4, blockSize: 32 };
  }

  // Q4_K: one 144-byte super-block = eight MatMulNBits blocks (its 32-weight sub-blocks).
  for (let sb = 0; sb < nBlocks / 8; sb++) {
    const o = sb * 144;
    const d = lut[u16(bytes, o)]!, dmin = lut[u16(bytes, o + 2)]!;
    for (let s = 0; s < 8; s++) {
      const [sc, m] = getScaleMinK4(s, bytes, o + 4);
      const qo = o + 16 + (s >> 1) * 32, shift = (s & 1) * 4;
      // Round like ggml does before combining: d1 = (float)(d*sc), m1 = (float)(dmin*m).
      setAffine(sb * 8 + s, Math.fround(d * sc), Math.fround(dmin * m), (l) => (bytes[qo + l]! >> shift) & 0xf);
    }
  }
  return { B, scales, zeroPoints, N, K, bits: 4, blockSize: 32 };
}

export interface MatMulNBits8Weights {
  /** [N, K/32, 32] unsigned 8-bit weights, w = scale * (B - 128) (MatMulNBits' default zero point). */
  B: Uint8Array;
  /** [N * K/32] per-block scales. */
  scales: Float32Array;
  N: number;
  K: number;
  bits: 8;
  blockSize: 32;
}

/**
 * Convert a Q5_0 or Q3_K weight of N rows by K inputs to 8-bit MatMulNBits blocks of 32 with the
 * default zero point 128 (the layout the converter already uses for Q8_0). Exact, with no float
 * zero points, for both:
 *  - Q5_0 (w = d*(q-16), q 0..31): B = q + 112, scale d.
 *  - Q3_K (w = d*(sc-32)*q per 16 weights, sc-32 in -32..31, q in -4..3): the integer
 *    v = (sc-32)*q lies in -124..128, so one 32-block holds two sub-blocks as B = 128 - v
 *    (0..252) with scale -d. ggml's (d*(sc-32))*q is exact in float32, so scale*(B-128) equals it.
 * Other types throw UNSUPPORTED_QUANT: Q5_1, Q5_K and Q2_K carry a per-block offset that the
 * 8-bit path can only hold as a rounded float zero point.
 */
export function toMatMulNBits8(type: number, bytes: Uint8Array, N: number, K: number): MatMulNBits8Weights {
  if (type !== GgmlType.Q5_0 && type !== GgmlType.Q3_K) {
    throw new SteerlabError('UNSUPPORTED_QUANT', `8-bit MatMulNBits repacking handles Q5_0 and Q3_K, not ${ggmlTypeName(type)}`);
  }
  if (!Number.isSafeInteger(N) || !Number.isSafeInteger(K) || N <= 0 || K <= 0 || K % 32 !== 0) {
    throw new SteerlabError('BAD_ARGUMENT', `MatMulNBits needs positive N and K with K a multiple of 32 (got N=${N}, K=${K})`);
  }
  if (type === GgmlType.Q3_K && K % 256 !== 0) {
    throw new SteerlabError('BAD_ARGUMENT', `Q3_K rows must be a multiple of 256 inputs (K=${K})`);
  }
  const expected = ggmlByteSize(type, N * K, `${ggmlTypeName(type)} weight ${N}x${K}`);
  if (bytes.length !== expected) {
    throw new SteerlabError('BAD_ARGUMENT', `${ggmlTypeName(type)} weight ${N}x${K} needs ${expected} bytes, got ${bytes.length}`);
  }
  const nBlocks = (N * K) / 32;
  const B = new Uint8Array(N * K);
  const scales = new Float32Array(nBlocks);
  const lut = f16Lut();
  if (type === GgmlType.Q5_0) {
    for (let blk = 0; blk < nBlocks; blk++) {
      const o = blk * 22, y = blk * 32;
      scales[blk] = lut[u16(bytes, o)]!;
      const qh = u32(bytes, o + 2);
      for (let j = 0; j < 16; j++) {
        const q = bytes[o + 6 + j]!;
        B[y + j] = ((q & 0xf) | (((qh >>> j) & 1) << 4)) + 112;
        B[y + j + 16] = ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) + 112;
      }
    }
    return { B, scales, N, K, bits: 8, blockSize: 32 };
  }
  // Q3_K: one 110-byte super-block = eight 32-blocks; the bit layout follows dequantizeQ3K.
  const sc = new Int8Array(16);
  for (let sb = 0; sb < nBlocks / 8; sb++) {
    const o = sb * 110;
    const d = lut[u16(bytes, o + 108)]!;
    for (let i = 0; i < 16; i++) {
      const low = i < 8 ? bytes[o + 96 + i]! & 0xf : bytes[o + 96 + i - 8]! >> 4;
      const high = (bytes[o + 104 + (i & 3)]! >> (2 * (i >> 2))) & 3;
      sc[i] = (low | (high << 4)) - 32;
    }
    scales.fill(-d, sb * 8, sb * 8 + 8);
    let y = sb * 256, is = 0, k = 0;
    for (let n = 0; n < 2; n++) {
      const q = o + 32 + n * 32;
      for (let shift = 0; shift < 8; shift += 2, k++) {
        for (let half = 0; half < 2; half++, is++) {
          for (let l = half * 16; l < half * 16 + 16; l++) {
            const v = sc[is]! * (((bytes[q + l]! >> shift) & 3) - (((bytes[o + l]! >> k) & 1) ? 0 : 4));
            B[y++] = 128 - v;
          }
        }
      }
    }
  }
  return { B, scales, N, K, bits: 8, blockSize: 32 };
}
