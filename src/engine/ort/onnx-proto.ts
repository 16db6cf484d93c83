/**
 * The part of the ONNX format branchy writes (onnx/onnx.proto: ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto), as plain objects and an encoder to the protobuf bytes.
 *
 * @module
 */
import { ProtoWriter, readProtoFields } from './protobuf.ts';

/** ONNX element types branchy writes (TensorProto.DataType). */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

/** The operator set the exporter targets. */
export const ONNX_OPSET = 13;
/** IR version 7 goes with opset 13. */
export const ONNX_IR_VERSION = 7;

/** A constant tensor in the graph (weights, shapes). */
export interface OnnxTensor {
  name: string;
  dims: number[];
  /** Float32 values, or int64 values (as numbers). */
  data: Float32Array | { int64: number[] };
}

/** A node attribute. */
export type OnnxAttribute = { name: string } & ({ float: number } | { int: number } | { ints: number[] } | { string: string });

/** One operator application. */
export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: OnnxAttribute[];
}

/** A float tensor input or output: a dimension is a size or a symbolic name (e.g. `'batch'`). */
export interface OnnxValueInfo {
  name: string;
  shape: (number | string)[];
}

/** A graph: nodes in topological order, constant tensors, inputs and outputs. */
export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** A whole model file. */
export interface OnnxModel {
  graph: OnnxGraph;
  producerName: string;
  producerVersion: string;
  opset?: number;
  /** `key: value` pairs stored in the model (ModelProto.metadata_props). */
  metadata?: Record<string, string>;
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

function tensorProto(t: OnnxTensor): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.varint(1, d);
  if (t.data instanceof Float32Array) {
    w.varint(2, ONNX_FLOAT).string(8, t.name);
    const raw = new Uint8Array(t.data.length * 4);
    const view = new DataView(raw.buffer);
    t.data.forEach((v, i) => view.setFloat32(i * 4, v, true));
    w.bytes(9, raw);
  } else {
    w.varint(2, ONNX_INT64).string(8, t.name);
    const raw = new Uint8Array(t.data.int64.length * 8);
    const view = new DataView(raw.buffer);
    t.data.int64.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    w.bytes(9, raw);
  }
  return w;
}

function attributeProto(a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter().string(1, a.name);
  if ('float' in a) w.float(2, a.float).varint(20, ATTR_FLOAT);
  else if ('int' in a) w.varint(3, a.int).varint(20, ATTR_INT);
  else if ('ints' in a) {
    for (const v of a.ints) w.varint(8, v);
    w.varint(20, ATTR_INTS);
  } else w.bytes(4, new TextEncoder().encode(a.string)).varint(20, ATTR_STRING);
  return w;
}

function nodeProto(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, attributeProto(a));
  return w;
}

function valueInfoProto(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new ProtoWriter().varint(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().varint(1, ONNX_FLOAT).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

/** Encodes a model as ONNX protobuf bytes (what `.onnx` files hold). */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const g = model.graph;
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, nodeProto(n));
  graph.string(2, g.name);
  for (const t of g.initializers) graph.message(5, tensorProto(t));
  for (const v of g.inputs) graph.message(11, valueInfoProto(v));
  for (const v of g.outputs) graph.message(12, valueInfoProto(v));
  const w = new ProtoWriter()
    .varint(1, ONNX_IR_VERSION)
    .string(2, model.producerName)
    .string(3, model.producerVersion)
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').varint(2, model.opset ?? ONNX_OPSET));
  for (const [key, value] of Object.entries(model.metadata ?? {})) w.message(14, new ProtoWriter().string(1, key).string(2, value));
  return w.finish();
}

/**
 * The operator-set version a model imports for the default ONNX domain (ModelProto.opset_import), or undefined
 * when it declares none.
 *
 * @throws RangeError when the bytes are not a protobuf message.
 */
export function readOnnxOpset(bytes: Uint8Array): number | undefined {
  let opset: number | undefined;
  for (const f of readProtoFields(bytes)) {
    if (f.field !== 8 || f.wire !== 2) continue;
    let domain = '';
    let version: number | undefined;
    for (const g of readProtoFields(f.value)) {
      if (g.field === 1 && g.wire === 2) domain = new TextDecoder().decode(g.value);
      if (g.field === 2 && g.wire === 0) version = Number(g.value);
    }
    if ((domain === '' || domain === 'ai.onnx') && version !== undefined) opset = Math.max(opset ?? 0, version);
  }
  return opset;
}
