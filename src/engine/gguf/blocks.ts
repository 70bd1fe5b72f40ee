/**
 * Byte-level helpers shared by the dequantizers and the MatMulNBits repacker, kept apart so the
 * two modules do not import each other.
 */

/** Little-endian uint16 at byte offset o (block scales are stored unaligned). */
export const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);

/** Little-endian uint32 at byte offset o (Q5_0/Q5_1's qh), as an unsigned number. */
export const u32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/**
 * Unpack the 6-bit scale and min of sub-block j from a K-quant 12-byte scales array starting at
 * q[o] (ggml's get_scale_min_k4): for j < 4 the low 6 bits of bytes j and j+4; for j >= 4 a nibble
 * of byte j+4 joined with the top two bits of byte j-4 (scale) or byte j (min).
 */
export function getScaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j]! & 63, q[o + j + 4]! & 63];
  return [
    (q[o + j + 4]! & 0xf) | ((q[o + j - 4]! >> 6) << 4),
    (q[o + j + 4]! >> 4) | ((q[o + j]! >> 6) << 4),
  ];
}
