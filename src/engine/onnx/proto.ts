/**
 * Thin seam over the ONNX protobuf schema (onnx-proto, a protobufjs build of onnx.proto).
 * Everything else in the engine talks to graphs through these types and helpers only.
 */
import onnxProto from 'onnx-proto';

export const onnx = (onnxProto as unknown as { onnx: any }).onnx;

/** TensorProto.DataType values we use. */
export const DT = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  UINT32: 12,
} as const;
export type DataType = (typeof DT)[keyof typeof DT];

export interface ModelProto {
  irVersion?: number;
  opsetImport: { domain?: string; version: number }[];
  producerName?: string;
  graph: GraphProto;
  metadataProps?: { key: string; value: string }[];
  [k: string]: unknown;
}
export interface GraphProto {
  name?: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
  [k: string]: unknown;
}
export interface NodeProto {
  name?: string;
  opType: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute?: AttributeProto[];
}
export interface AttributeProto {
  name: string;
  type: number;
  i?: number;
  f?: number;
  s?: Uint8Array;
  ints?: number[];
  floats?: number[];
  t?: TensorProto;
}
export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  rawData?: Uint8Array;
  externalData?: { key: string; value: string }[];
  dataLocation?: number;
  [k: string]: unknown;
}
export interface ValueInfoProto {
  name: string;
  type?: { tensorType?: { elemType: number; shape?: { dim: { dimValue?: number; dimParam?: string }[] } } };
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes) as ModelProto;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish() as Uint8Array;
}

/** protobufjs may hand back Long objects for int64 fields; graphs here never exceed 2^53. */
export function toNum(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

export function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function elemTypeOf(v: ValueInfoProto): number {
  return v.type?.tensorType?.elemType ?? 0;
}
