/**
 * Bounded GGUF (v2, v3) parser. The file may be hostile: every count and length is checked
 * against the bytes that remain and against configurable limits before anything is allocated,
 * so a corrupt or malicious header fails fast with a SteerlabError (GGUF_BAD_MAGIC,
 * GGUF_TRUNCATED, GGUF_CORRUPT, GGUF_LIMIT, UNSUPPORTED_QUANT for an unknown tensor type)
 * instead of hanging or exhausting memory. Tensor data is never copied: offsets point into the
 * caller's bytes.
 */
import { SteerlabError, type ErrorCode } from '../../errors.js';
import { ggmlTypeInfo } from './ggml-types';

/** GGUF metadata value types (gguf.md). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueTypeId = (typeof GgufValueType)[keyof typeof GgufValueType];

/** A value's full type: a scalar type id, or an array of some element type (arrays may nest). */
export type GgufTypeSpec = GgufValueTypeId | { array: GgufTypeSpec };

/**
 * Numeric arrays come back as typed arrays (token_type as Int32Array, scores as Float32Array),
 * u64/i64 as bigint (scalars and BigInt64Array elements), strings as string[].
 */
export type GgufArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigUint64Array | BigInt64Array
  | boolean[] | string[] | GgufValue[];
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufTensorInfo {
  name: string;
  /** ne0 first, as stored: a weight of out x in is [in, out]. */
  dims: number[];
  /** ggml type id */
  type: number;
  typeName: string;
  /** ABSOLUTE byte offset of the data in the file. */
  offset: number;
  nbytes: number;
  nElements: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  /** The stored type of each metadata value, so a file can be rewritten faithfully. */
  metadataTypes: Map<string, GgufTypeSpec>;
  tensors: GgufTensorInfo[];
  tensorByName: Map<string, GgufTensorInfo>;
  alignment: number;
  /** Absolute offset of the tensor data section (may equal byteLength when there are no tensors). */
  dataOffset: number;
  byteLength: number;
}

export interface GgufLimits {
  maxTensors?: number;
  maxKv?: number;
  maxStringBytes?: number;
  maxArrayLen?: number;
}

export const DEFAULT_GGUF_LIMITS: Required<GgufLimits> = {
  maxTensors: 1 << 16, // large MoE models have a few thousand
  maxKv: 1 << 16,
  maxStringBytes: 1 << 24, // chat templates run to tens of KiB; 16 MiB is generous
  maxArrayLen: 1 << 24, // vocabularies are up to ~260k tokens
};

const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_ARRAY_DEPTH = 4; // real files never nest; bounded so hostile nesting cannot blow the stack
const DEFAULT_ALIGNMENT = 32;

// Bytes a scalar of each fixed-size type occupies.
const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
// Smallest possible encoding of one element, used to reject counts the remaining bytes cannot hold.
const minElementSize = (t: number): number => SCALAR_SIZE[t] ?? (t === GgufValueType.STRING ? 8 : 12);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Strict UTF-8 decode of b[start, end); null on any invalid or overlong sequence. */
function decodeShortUtf8(b: Uint8Array, start: number, end: number): string | null {
  const units: number[] = [];
  for (let i = start; i < end; ) {
    const c = b[i]!;
    if (c < 0x80) { units.push(c); i++; continue; }
    let cp: number, n: number, min: number;
    if ((c & 0xe0) === 0xc0) { cp = c & 0x1f; n = 1; min = 0x80; }
    else if ((c & 0xf0) === 0xe0) { cp = c & 0x0f; n = 2; min = 0x800; }
    else if ((c & 0xf8) === 0xf0) { cp = c & 0x07; n = 3; min = 0x10000; }
    else return null;
    if (i + n >= end) return null; // sequence runs past the string
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k]!;
      if ((cc & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    if (cp >= 0x10000) { cp -= 0x10000; units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff)); }
    else units.push(cp);
    i += n + 1;
  }
  return String.fromCharCode(...units);
}

const label = (what: string, index: number): string => (index >= 0 ? `${what}[${index}]` : what);

class Cursor {
  pos = 0;
  private readonly dv: DataView;
  private readonly decoder = new TextDecoder('utf-8'); // non-fatal: bad UTF-8 becomes U+FFFD, never throws

  constructor(readonly bytes: Uint8Array, readonly limits: Required<GgufLimits>) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  fail(code: ErrorCode, what: string): never {
    throw new SteerlabError(code, `GGUF ${what} (at byte ${this.pos} of ${this.bytes.length})`);
  }

  need(n: number, what: string): void {
    if (n > this.remaining) this.fail('GGUF_TRUNCATED', `truncated: ${what} needs ${n} bytes, ${this.remaining} left`);
  }

  u8(what: string): number { this.need(1, what); return this.bytes[this.pos++]!; }
  u32(what: string): number { this.need(4, what); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }

  u64Big(what: string): bigint { this.need(8, what); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }

  /** u64 that must fit a safe JS number and not exceed `max` (counts, lengths, dims, offsets). */
  u64Bounded(what: string, max: number, code: ErrorCode = 'GGUF_LIMIT'): number {
    const v = this.u64Big(what);
    if (v > BigInt(max)) this.fail(code, `${what} ${v} exceeds the limit ${max}`);
    return Number(v);
  }

  /** Count whose elements need at least `elemSize` bytes each: limit first, then remaining bytes. */
  count(what: string, max: number, elemSize: number): number {
    const n = this.u64Bounded(what, max);
    if (n * elemSize > this.remaining) {
      this.fail('GGUF_TRUNCATED', `truncated: ${what} ${n} needs at least ${n * elemSize} bytes, ${this.remaining} left`);
    }
    return n;
  }

  /** `index` names an array element in messages; labels are only formatted on failure (hot path). */
  string(what: string, index = -1): string {
    if (this.remaining < 8) this.need(8, `${label(what, index)} length`);
    // Two u32 halves instead of a BigInt: this runs ~100k times for a vocabulary.
    const lo = this.dv.getUint32(this.pos, true), hi = this.dv.getUint32(this.pos + 4, true);
    if (hi !== 0 || lo > this.limits.maxStringBytes) {
      const len = (BigInt(hi) << 32n) | BigInt(lo);
      this.fail('GGUF_LIMIT', `${label(what, index)} length ${len} exceeds the limit ${this.limits.maxStringBytes}`);
    }
    this.pos += 8;
    const len = lo;
    if (len > this.remaining) this.need(len, label(what, index));
    const start = this.pos;
    this.pos += len;
    // Short strings (vocabulary entries: ~100k of them) decode by hand; TextDecoder's per-call
    // overhead dominates otherwise. Anything unusual falls back to TextDecoder.
    if (len <= 64) {
      const s = decodeShortUtf8(this.bytes, start, start + len);
      if (s !== null) return s;
    }
    return this.decoder.decode(this.bytes.subarray(start, start + len));
  }

  /** Copy n fixed-size little-endian elements into a fresh, aligned typed array. */
  typed<T>(n: number, size: number, make: (buf: ArrayBuffer) => T, read: (dv: DataView, o: number) => number | bigint): T {
    const len = n * size;
    this.need(len, 'array data');
    const copy = this.bytes.slice(this.pos, this.pos + len);
    this.pos += len;
    const arr = make(copy.buffer);
    if (!LITTLE_ENDIAN_HOST) {
      const dv = new DataView(copy.buffer);
      const out = arr as unknown as { [i: number]: number | bigint };
      for (let i = 0; i < n; i++) out[i] = read(dv, i * size);
    }
    return arr;
  }
}

function readValue(c: Cursor, type: number, what: string, depth: number): { value: GgufValue; spec: GgufTypeSpec } {
  const dv = (): DataView => new DataView(c.bytes.buffer, c.bytes.byteOffset + c.pos, SCALAR_SIZE[type]);
  const scalar = <V>(get: (d: DataView) => V): V => {
    c.need(SCALAR_SIZE[type]!, what);
    const v = get(dv());
    c.pos += SCALAR_SIZE[type]!;
    return v;
  };
  switch (type) {
    case GgufValueType.UINT8: return { value: scalar((d) => d.getUint8(0)), spec: type };
    case GgufValueType.INT8: return { value: scalar((d) => d.getInt8(0)), spec: type };
    case GgufValueType.UINT16: return { value: scalar((d) => d.getUint16(0, true)), spec: type };
    case GgufValueType.INT16: return { value: scalar((d) => d.getInt16(0, true)), spec: type };
    case GgufValueType.UINT32: return { value: scalar((d) => d.getUint32(0, true)), spec: type };
    case GgufValueType.INT32: return { value: scalar((d) => d.getInt32(0, true)), spec: type };
    case GgufValueType.FLOAT32: return { value: scalar((d) => d.getFloat32(0, true)), spec: type };
    case GgufValueType.UINT64: return { value: scalar((d) => d.getBigUint64(0, true)), spec: type };
    case GgufValueType.INT64: return { value: scalar((d) => d.getBigInt64(0, true)), spec: type };
    case GgufValueType.FLOAT64: return { value: scalar((d) => d.getFloat64(0, true)), spec: type };
    case GgufValueType.BOOL: {
      const b = c.u8(what);
      if (b > 1) c.fail('GGUF_CORRUPT', `corrupt: ${what} is a bool stored as ${b} (must be 0 or 1)`);
      return { value: b === 1, spec: type };
    }
    case GgufValueType.STRING: return { value: c.string(what), spec: type };
    case GgufValueType.ARRAY: return readArray(c, what, depth);
    default: return c.fail('GGUF_CORRUPT', `corrupt: ${what} has unknown value type ${type}`);
  }
}

function readArray(c: Cursor, what: string, depth: number): { value: GgufValue; spec: GgufTypeSpec } {
  if (depth >= MAX_ARRAY_DEPTH) c.fail('GGUF_LIMIT', `${what}: arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
  const et = c.u32(`${what} element type`);
  if (et > GgufValueType.FLOAT64) c.fail('GGUF_CORRUPT', `corrupt: ${what} has unknown array element type ${et}`);
  const n = c.count(`${what} array length`, c.limits.maxArrayLen, minElementSize(et));
  const spec: GgufTypeSpec = { array: et as GgufValueTypeId };
  switch (et) {
    case GgufValueType.UINT8: return { spec, value: c.typed(n, 1, (b) => new Uint8Array(b), (d, o) => d.getUint8(o)) };
    case GgufValueType.INT8: return { spec, value: c.typed(n, 1, (b) => new Int8Array(b), (d, o) => d.getInt8(o)) };
    case GgufValueType.UINT16: return { spec, value: c.typed(n, 2, (b) => new Uint16Array(b), (d, o) => d.getUint16(o, true)) };
    case GgufValueType.INT16: return { spec, value: c.typed(n, 2, (b) => new Int16Array(b), (d, o) => d.getInt16(o, true)) };
    case GgufValueType.UINT32: return { spec, value: c.typed(n, 4, (b) => new Uint32Array(b), (d, o) => d.getUint32(o, true)) };
    case GgufValueType.INT32: return { spec, value: c.typed(n, 4, (b) => new Int32Array(b), (d, o) => d.getInt32(o, true)) };
    case GgufValueType.FLOAT32: return { spec, value: c.typed(n, 4, (b) => new Float32Array(b), (d, o) => d.getFloat32(o, true)) };
    case GgufValueType.FLOAT64: return { spec, value: c.typed(n, 8, (b) => new Float64Array(b), (d, o) => d.getFloat64(o, true)) };
    case GgufValueType.UINT64: return { spec, value: c.typed(n, 8, (b) => new BigUint64Array(b), (d, o) => d.getBigUint64(o, true)) };
    case GgufValueType.INT64: return { spec, value: c.typed(n, 8, (b) => new BigInt64Array(b), (d, o) => d.getBigInt64(o, true)) };
    case GgufValueType.STRING: {
      const out: string[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = c.string(what, i);
      return { spec, value: out };
    }
    case GgufValueType.BOOL: {
      const out: boolean[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, et, `${what}[${i}]`, depth + 1).value as boolean;
      return { spec, value: out };
    }
    default: {
      // Nested arrays: each element carries its own element type, so the spec records the first.
      const out: GgufValue[] = new Array(n);
      let inner: GgufTypeSpec = { array: GgufValueType.UINT8 };
      for (let i = 0; i < n; i++) {
        const r = readArray(c, `${what}[${i}]`, depth + 1);
        out[i] = r.value;
        if (i === 0) inner = r.spec;
      }
      return { spec: { array: inner }, value: out };
    }
  }
}

/**
 * Parse a GGUF file's header, metadata and tensor table. `bytes` is not copied; tensor data stays
 * in place (see tensorBytes). Works for vocabulary-only files (zero tensors).
 */
export function parseGguf(bytes: Uint8Array, opts: GgufLimits = {}): GgufFile {
  const limits = { ...DEFAULT_GGUF_LIMITS, ...opts };
  const c = new Cursor(bytes, limits);

  if (bytes.length < 4) c.fail('GGUF_TRUNCATED', `truncated: ${bytes.length} bytes is too short for a GGUF header`);
  const magic = c.u32('magic');
  if (magic !== GGUF_MAGIC) {
    const shown = Array.from(bytes.subarray(0, 4), (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    throw new SteerlabError('GGUF_BAD_MAGIC', `not a GGUF file: magic is "${shown}", expected "GGUF"`);
  }
  const version = c.u32('version');
  if (version !== 2 && version !== 3) {
    // A big-endian file (llama.cpp can write them) shows its version byte-swapped.
    const hint = version === 0x02000000 || version === 0x03000000 ? ' (big-endian GGUF is not supported)' : '';
    c.fail('GGUF_CORRUPT', `version ${version} is not supported (only 2 and 3)${hint}`);
  }
  // Smallest tensor record: name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
  const nTensors = c.count('tensor count', limits.maxTensors, 32);
  // Smallest key/value: key length (8) + value type (4) + a one-byte value.
  const nKv = c.count('key/value count', limits.maxKv, 13);

  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, GgufTypeSpec>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`key #${i}`);
    if (metadata.has(key)) c.fail('GGUF_CORRUPT', `corrupt: duplicate key "${key}"`);
    const type = c.u32(`type of ${key}`);
    const { value, spec } = readValue(c, type, key, 0);
    metadata.set(key, value);
    metadataTypes.set(key, spec);
  }

  let alignment = DEFAULT_ALIGNMENT;
  if (metadata.has('general.alignment')) {
    const a = metadata.get('general.alignment');
    if (metadataTypes.get('general.alignment') !== GgufValueType.UINT32 || typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) {
      return c.fail('GGUF_CORRUPT', `corrupt: general.alignment must be a power-of-two uint32, got ${String(a)}`);
    }
    alignment = a;
  }

  const raw: Array<Omit<GgufTensorInfo, 'offset'> & { rel: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`tensor #${i} name`);
    if (names.has(name)) c.fail('GGUF_CORRUPT', `corrupt: duplicate tensor name "${name}"`);
    names.add(name);
    const nDims = c.u32(`tensor ${name} n_dims`);
    if (nDims < 1 || nDims > MAX_DIMS) c.fail('GGUF_CORRUPT', `corrupt: tensor ${name} has ${nDims} dimensions (1..${MAX_DIMS} allowed)`);
    const dims: number[] = [];
    let nElements = 1;
    for (let d = 0; d < nDims; d++) {
      // Each factor only has to be a safe integer here: the element product, then the data range
      // against the file length, are the real bounds.
      const dim = c.u64Bounded(`tensor ${name} dim ${d}`, Number.MAX_SAFE_INTEGER, 'GGUF_CORRUPT');
      dims.push(dim);
      nElements *= dim;
      if (nElements > Number.MAX_SAFE_INTEGER) c.fail('GGUF_CORRUPT', `corrupt: tensor ${name} has too many elements`);
    }
    const type = c.u32(`tensor ${name} type`);
    const info = ggmlTypeInfo(type);
    if (!info) {
      throw new SteerlabError('UNSUPPORTED_QUANT', `GGUF tensor ${name} has unknown ggml type id ${type} (newer format or corrupt file)`);
    }
    if (dims[0]! % info.blockSize !== 0) {
      c.fail('GGUF_CORRUPT', `corrupt: tensor ${name} row length ${dims[0]} is not a multiple of the ${info.name} block size ${info.blockSize}`);
    }
    const nbytes = (nElements / info.blockSize) * info.typeSize;
    const rel = c.u64Bounded(`tensor ${name} offset`, Number.MAX_SAFE_INTEGER, 'GGUF_CORRUPT');
    if (rel % alignment !== 0) c.fail('GGUF_CORRUPT', `corrupt: tensor ${name} offset ${rel} is not aligned to ${alignment}`);
    raw.push({ name, dims, type, typeName: info.name, nbytes, nElements, rel });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (nTensors > 0 && dataOffset > bytes.length) {
    c.fail('GGUF_TRUNCATED', `truncated: tensor data would start at ${dataOffset}, past the end of the file`);
  }
  const tensors: GgufTensorInfo[] = raw.map(({ rel, ...t }) => ({ ...t, offset: dataOffset + rel }));
  for (const t of tensors) {
    if (t.offset + t.nbytes > bytes.length) {
      throw new SteerlabError(
        'GGUF_TRUNCATED',
        `GGUF truncated: tensor ${t.name} data [${t.offset}, ${t.offset + t.nbytes}) runs past the end of the file (${bytes.length} bytes)`,
      );
    }
  }
  // Overlapping tensors would let one weight alias another; ggml never writes them.
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!, cur = byOffset[i]!;
    if (cur.offset < prev.offset + prev.nbytes) {
      throw new SteerlabError('GGUF_CORRUPT', `GGUF corrupt: tensors ${prev.name} and ${cur.name} overlap`);
    }
  }
  const tensorByName = new Map(tensors.map((t) => [t.name, t]));
  return { version, metadata, metadataTypes, tensors, tensorByName, alignment, dataOffset, byteLength: bytes.length };
}

/** The tensor's bytes as a view into `file` (no copy), bounds-checked against the file. */
export function tensorBytes(file: Uint8Array, t: GgufTensorInfo): Uint8Array {
  if (!Number.isSafeInteger(t.offset) || !Number.isSafeInteger(t.nbytes) || t.offset < 0 || t.nbytes < 0 || t.offset + t.nbytes > file.length) {
    throw new SteerlabError('GGUF_TRUNCATED', `GGUF tensor ${t.name} [${t.offset}, +${t.nbytes}) lies outside the ${file.length}-byte file`);
  }
  return file.subarray(t.offset, t.offset + t.nbytes);
}

/** Metadata helpers: read a key as a given JS type or throw GGUF_CORRUPT naming the key. */
export function metaNumber(f: GgufFile, key: string): number | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw new SteerlabError('GGUF_CORRUPT', `GGUF metadata ${key} should be a number, got ${describe(v)}`);
}

export function metaString(f: GgufFile, key: string): string | undefined {
  const v = f.metadata.get(key);
  if (v === undefined || typeof v === 'string') return v;
  throw new SteerlabError('GGUF_CORRUPT', `GGUF metadata ${key} should be a string, got ${describe(v)}`);
}

export function metaBool(f: GgufFile, key: string): boolean | undefined {
  const v = f.metadata.get(key);
  if (v === undefined || typeof v === 'boolean') return v;
  throw new SteerlabError('GGUF_CORRUPT', `GGUF metadata ${key} should be a bool, got ${describe(v)}`);
}

function describe(v: GgufValue): string {
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return `an array of ${(v as { length: number }).length}`;
  return typeof v;
}
