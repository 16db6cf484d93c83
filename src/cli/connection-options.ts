import type { Command } from 'commander';
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from '../serve/connection-limits.ts';
import { positiveInt, positiveNumber } from './parse.ts';

const D = DEFAULT_CONNECTION_LIMITS;

/** The connection flags of every command that serves HTTP (`serve`, `unit`): timeouts, a connection limit, lingering. */
export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option(
      '--headers-timeout-ms <ms>',
      'longest a client may take to send its request headers (then 408 and close)',
      positiveNumber('--headers-timeout-ms'),
      D.headersTimeoutMs,
    )
    .option(
      '--request-timeout-ms <ms>',
      'longest a client may take to send a whole request (then 408 and close)',
      positiveNumber('--request-timeout-ms'),
      D.requestTimeoutMs,
    )
    .option('--keep-alive-timeout-ms <ms>', 'longest an idle keep-alive connection stays open', positiveNumber('--keep-alive-timeout-ms'), D.keepAliveTimeoutMs)
    .option(
      '--idle-timeout-ms <ms>',
      'longest a connection may stay silent at any point before it is closed',
      positiveNumber('--idle-timeout-ms'),
      D.idleTimeoutMs,
    )
    .option('--max-connections <n>', 'most open connections; the server closes any beyond it at once', positiveInt('--max-connections'), D.maxConnections)
    .option(
      '--linger-ms <ms>',
      'after a reply sent before its body was read (413, 401), how long to read and discard before closing',
      positiveNumber('--linger-ms'),
      D.linger.ms,
    )
    .option('--linger-bytes <n>', 'and how many bytes at most', positiveInt('--linger-bytes'), D.linger.bytes);
}

/** The {@link ConnectionLimits} the parsed connection flags give. */
export function connectionOptions(o: Record<string, unknown>): ConnectionLimits {
  return {
    headersTimeoutMs: o.headersTimeoutMs as number,
    requestTimeoutMs: o.requestTimeoutMs as number,
    keepAliveTimeoutMs: o.keepAliveTimeoutMs as number,
    idleTimeoutMs: o.idleTimeoutMs as number,
    maxConnections: o.maxConnections as number,
    linger: { ms: o.lingerMs as number, bytes: o.lingerBytes as number },
  };
}
