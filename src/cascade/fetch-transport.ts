/**
 * The HTTP transport over `fetch`, for a unit that runs in a browser (the edge page): the same forward route and
 * the same failure reasons as `httpTransport`, which Node units use with keep-alive sockets of their own.
 * Browser-safe.
 *
 * @module
 */
import { CascadeHopError } from './errors.ts';
import { ERROR_HEADER, FROM_HEADER, type Transport } from './types.ts';

/**
 * A transport POSTing frames to `url` (a successor's forward route, absolute or relative to the page), each within
 * its own deadline.
 *
 * @throws CascadeHopError from `forward`: `timeout`, `unreachable`, `successor error: CODE` (5xx),
 *   `successor refused: CODE` (4xx).
 */
export function fetchTransport(options: { url: string; from: string; fetch?: typeof fetch }): Transport {
  const fetcher = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const target = options.url;
  return {
    kind: 'http',
    target,
    async forward(frame: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), deadlineMs);
      try {
        let response: Response;
        try {
          response = await fetcher(target, {
            method: 'POST',
            headers: { 'content-type': 'application/octet-stream', [FROM_HEADER]: options.from },
            body: frame as Uint8Array<ArrayBuffer>,
            signal: abort.signal,
            cache: 'no-store',
          });
        } catch (error) {
          if (abort.signal.aborted) throw new CascadeHopError('timeout', `${target} did not answer within ${deadlineMs} ms.`, { cause: error });
          throw new CascadeHopError('unreachable', `${target}: ${(error as Error).message}`, { cause: error });
        }
        let body: Uint8Array;
        try {
          body = new Uint8Array(await response.arrayBuffer());
        } catch (error) {
          if (abort.signal.aborted) throw new CascadeHopError('timeout', `${target} did not answer within ${deadlineMs} ms.`, { cause: error });
          throw new CascadeHopError('unreachable', `${target}: ${(error as Error).message}`, { cause: error });
        }
        if (response.status === 200) return body;
        const code = response.headers.get(ERROR_HEADER) ?? `HTTP_${response.status}`;
        const kind = response.status >= 500 ? 'successor error' : 'successor refused';
        throw new CascadeHopError(`${kind}: ${code}`, `${target} answered ${response.status}: ${new TextDecoder().decode(body.subarray(0, 300))}`);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {},
  };
}
