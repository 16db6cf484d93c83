/**
 * A minimal protocol-buffers writer: just the wire types ONNX needs (varint, fixed32, length-delimited).
 * Fields are written in call order; nested messages are encoded first and embedded as bytes.
 *
 * @module
 */

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** Builds one protobuf message. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;
  private pending: number[] = [];

  private flushPending(): void {
    if (this.pending.length === 0) return;
    this.parts.push(Uint8Array.from(this.pending));
    this.size += this.pending.length;
    this.pending = [];
  }

  private rawVarint(value: number | bigint): void {
    // int64 fields carry negative numbers as their 64-bit two's complement, ten bytes long.
    let v = typeof value === 'bigint' ? BigInt.asUintN(64, value) : value < 0 ? BigInt.asUintN(64, BigInt(value)) : value;
    if (typeof v === 'number') {
      while (v > 0x7f) {
        this.pending.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      this.pending.push(v);
      return;
    }
    while (v > 0x7fn) {
      this.pending.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.pending.push(Number(v));
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(field * 8 + wire);
  }

  /** An integer field (int32, int64, enum, bool) of any sign. */
  varint(field: number, value: number | bigint): this {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new RangeError(`protobuf field ${field}: ${value} is not a safe integer.`);
    this.tag(field, WIRE_VARINT);
    this.rawVarint(value);
    return this;
  }

  /** A `float` field. */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.pending.push(...b);
    return this;
  }

  /** A `bytes` field or an embedded message already encoded. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.rawVarint(value.length);
    this.flushPending();
    this.parts.push(value);
    this.size += value.length;
    return this;
  }

  /** A `string` field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** An embedded message. */
  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** The encoded message. */
  finish(): Uint8Array {
    this.flushPending();
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** One field of a protobuf message as read: a varint's value, or a length-delimited field's bytes. */
export type ProtoField =
  { field: number; wire: 0; value: bigint } | { field: number; wire: 2; value: Uint8Array } | { field: number; wire: 1 | 5; value: Uint8Array };

/**
 * The top-level fields of one protobuf message, in order. Nested messages come back as bytes, to be read the
 * same way.
 *
 * @throws RangeError on a truncated or malformed message.
 */
export function readProtoFields(bytes: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= bytes.length || shift > 63n) throw new RangeError(`malformed varint at byte ${at}`);
      const b = bytes[at++];
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
    }
  };
  const take = (n: number): Uint8Array => {
    if (at + n > bytes.length) throw new RangeError(`field runs past the end (${at + n} > ${bytes.length} bytes)`);
    const v = bytes.subarray(at, at + n);
    at += n;
    return v;
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new RangeError(`field number 0 at byte ${at}`);
    if (wire === WIRE_VARINT) out.push({ field, wire: 0, value: varint() });
    else if (wire === WIRE_LENGTH_DELIMITED) out.push({ field, wire: 2, value: take(Number(varint())) });
    else if (wire === 1) out.push({ field, wire: 1, value: take(8) });
    else if (wire === WIRE_FIXED32) out.push({ field, wire: 5, value: take(4) });
    else throw new RangeError(`unsupported wire type ${wire} at byte ${at}`);
  }
  return out;
}
