/**
 * One file a unit's server hands to the edge page: read once, kept in memory, compressed once per encoding the
 * browser accepts (brotli, else gzip) and revalidated by its ETag. The WebAssembly binaries are most of the page's
 * weight and compress to about a fifth.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

/** The content encodings an asset is offered in, best first. */
type Encoding = 'br' | 'gzip';

/** How long a browser may keep an asset without asking again. */
export type CachePolicy = 'immutable' | 'revalidate';

/** Files smaller than this are sent as they are: compressing them saves less than the headers cost. */
const MIN_COMPRESS_BYTES = 1024;
/** Above this size brotli runs at quality 5 (0.6 s for onnxruntime's 14 MB binary) instead of 11. */
const LARGE_BYTES = 1 << 20;

/** The encoding to answer with, from the request's `Accept-Encoding` (a `q=0` refuses one). */
export function chooseEncoding(accept: string | undefined): Encoding | undefined {
  if (!accept) return undefined;
  const offered = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find(Boolean);
    offered.set(name.trim(), q ? Number(q[1]) : 1);
  }
  for (const encoding of ['br', 'gzip'] as const) if ((offered.get(encoding) ?? 0) > 0) return encoding;
  return undefined;
}

/** A file served to the page. */
export class StaticAsset {
  /** Its `Content-Type`. */
  readonly type: string;
  readonly cache: CachePolicy;
  private readonly load: () => Promise<Uint8Array>;
  private body?: Promise<{ bytes: Buffer; etag: string }>;
  private readonly encoded = new Map<Encoding, Promise<Buffer | undefined>>();

  private constructor(load: () => Promise<Uint8Array>, type: string, cache: CachePolicy) {
    this.load = load;
    this.type = type;
    this.cache = cache;
  }

  /** A file on disk, read on the first request. */
  static file(path: string, type: string, cache: CachePolicy = 'revalidate'): StaticAsset {
    return new StaticAsset(() => readFile(path), type, cache);
  }

  /** Bytes already in memory. */
  static bytes(bytes: Uint8Array | string, type: string, cache: CachePolicy = 'revalidate'): StaticAsset {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    return new StaticAsset(async () => data, type, cache);
  }

  private content(): Promise<{ bytes: Buffer; etag: string }> {
    this.body ??= this.load().then((data) => {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      return { bytes, etag: `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"` };
    });
    return this.body;
  }

  /** The asset in `encoding`, or undefined when compressing does not make it smaller. */
  private compressed(encoding: Encoding, bytes: Buffer): Promise<Buffer | undefined> {
    let pending = this.encoded.get(encoding);
    if (pending === undefined) {
      const quality = bytes.length > LARGE_BYTES ? 5 : 11;
      pending = (
        encoding === 'br'
          ? brotli(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } })
          : gzipped(bytes, { level: 6 })
      ).then((out) => (out.length < bytes.length * 0.95 ? out : undefined));
      this.encoded.set(encoding, pending);
    }
    return pending;
  }

  /** Answers a GET or HEAD: 304 when the browser's copy is current, else the bytes, compressed when accepted. */
  async send(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { bytes, etag } = await this.content();
    reply
      .type(this.type)
      .header('etag', etag)
      .header('vary', [reply.getHeader('vary'), 'accept-encoding'].filter(Boolean).join(', '))
      .header('cache-control', this.cache === 'immutable' ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    const encoding = bytes.length >= MIN_COMPRESS_BYTES ? chooseEncoding(request.headers['accept-encoding']) : undefined;
    const packed = encoding && (await this.compressed(encoding, bytes));
    if (encoding && packed) return reply.header('content-encoding', encoding).send(packed);
    return reply.send(bytes);
  }
}
