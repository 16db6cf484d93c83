import { BranchyError, type BranchyErrorCode } from '../common/errors.ts';

/** The server's own codes, for errors it answers with its chosen HTTP status. */
export type ServeErrorCode =
  | 'SERVE_BAD_BODY'
  | 'SERVE_BAD_CONTENT_LENGTH'
  | 'SERVE_BAD_HTTP'
  | 'SERVE_BAD_INPUTS'
  | 'SERVE_BAD_JSON'
  | 'SERVE_BAD_MODEL_NAME'
  | 'SERVE_BAD_QUERY'
  | 'SERVE_BAD_REQUEST'
  | 'SERVE_BODY_INCOMPLETE'
  | 'SERVE_BODY_TOO_LARGE'
  | 'SERVE_CONFLICTING_THRESHOLDS'
  | 'SERVE_DUPLICATE_MODEL'
  | 'SERVE_EMPTY_BODY'
  | 'SERVE_HEADERS_TOO_LARGE'
  | 'SERVE_INFERENCE_CRASHED'
  | 'SERVE_INTERNAL'
  | 'SERVE_MODEL_LOAD_FAILED'
  | 'SERVE_NOT_CALIBRATED'
  | 'SERVE_NO_MODELS'
  | 'SERVE_NO_SUCH_PATH'
  | 'SERVE_OVERLOADED'
  | 'SERVE_QUEUE_FULL'
  | 'SERVE_REQUEST_TIMEOUT'
  | 'SERVE_SHUTTING_DOWN'
  | 'SERVE_TOO_MANY_SAMPLES'
  | 'SERVE_UNKNOWN_MODEL'
  | 'SERVE_UNSUPPORTED_MEDIA_TYPE';

/**
 * An error the server answers with a chosen HTTP status; `retryAfterSeconds` becomes a `Retry-After` header.
 * Every error reply is JSON `{code, message}`.
 */
export class BranchyServeError extends BranchyError<ServeErrorCode | BranchyErrorCode> {
  readonly status: number;
  readonly retryAfterSeconds?: number;

  constructor(code: ServeErrorCode | BranchyErrorCode, message: string, status: number, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
    this.status = status;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The body of every error reply. */
export interface ErrorBody {
  code: ServeErrorCode | BranchyErrorCode;
  message: string;
}

// Fastify's own errors, renamed into branchy's codes with the status a client should see.
const FASTIFY_ERRORS: Record<string, { code: ServeErrorCode; status: number }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'SERVE_UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'SERVE_BODY_TOO_LARGE', status: 413 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'SERVE_EMPTY_BODY', status: 400 },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'SERVE_BAD_JSON', status: 400 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'SERVE_BAD_CONTENT_LENGTH', status: 400 },
  FST_ERR_CTP_INVALID_TYPE: { code: 'SERVE_UNSUPPORTED_MEDIA_TYPE', status: 415 },
};

/** Library error codes a client causes with its input (thresholds, frames, batches): all 400. */
const CLIENT_CODE_PREFIXES = ['EXIT_', 'FRAME_', 'INFER_'];

/**
 * The HTTP status and `{code, message}` body for anything a route or fastify threw. Errors a client caused map
 * to 4xx with the code that names the problem; anything unexpected is a 500 `SERVE_INTERNAL`.
 */
export function errorReply(error: unknown): { status: number; body: ErrorBody; retryAfterSeconds?: number } {
  if (error instanceof BranchyServeError) {
    return { status: error.status, body: { code: error.code, message: error.message }, retryAfterSeconds: error.retryAfterSeconds };
  }
  if (error instanceof BranchyError) {
    const client = CLIENT_CODE_PREFIXES.some((p) => error.code.startsWith(p));
    return { status: client ? 400 : 500, body: { code: error.code, message: error.message } };
  }
  const e = error as { code?: unknown; statusCode?: unknown; message?: unknown; validation?: unknown; validationContext?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  if (e?.validation !== undefined) {
    const part = typeof e.validationContext === 'string' ? e.validationContext : 'request';
    return { status: 400, body: { code: part === 'body' ? 'SERVE_BAD_BODY' : part === 'querystring' ? 'SERVE_BAD_QUERY' : 'SERVE_BAD_REQUEST', message } };
  }
  // Node's 'aborted': the connection closed (the client went away, or a timeout closed it) before the body was read.
  if (e?.code === 'ECONNRESET')
    return { status: 400, body: { code: 'SERVE_BODY_INCOMPLETE', message: 'the connection closed before the request body was complete.' } };
  if (typeof e?.code === 'string' && FASTIFY_ERRORS[e.code]) {
    const { code, status } = FASTIFY_ERRORS[e.code];
    return { status, body: { code, message } };
  }
  if (error instanceof SyntaxError) return { status: 400, body: { code: 'SERVE_BAD_JSON', message: `request body is not valid JSON: ${message}` } };
  const status = typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
  return { status, body: { code: status === 500 ? 'SERVE_INTERNAL' : 'SERVE_BAD_REQUEST', message } };
}
