/**
 * Durable, atomic file writes: a reader (or a process started after a crash) sees a file's previous content or its
 * new content, never a mix, an empty file or a truncated one.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BranchyIoError } from '../common/errors.ts';
import { failpoint } from '../common/failpoint.ts';

/** Prefix of the temporary files `writeFileAtomic` writes beside their target (hidden, removed on failure). */
export const TEMP_PREFIX = '.branchy-';
const TEMP_FILE = /^\.branchy-.+\.tmp$/;

/** Error codes of a write the file system refused for lack of room (full disk, quota, file size limit). */
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** What kind of file a path is, for failpoint names: `manifest`, `weights`, `onnx`, `train-state`, `plan` or `file`. */
function kindOf(path: string): string {
  const name = basename(path);
  if (name === 'branchy.json') return 'manifest';
  if (name === 'plan.json') return 'plan';
  if (name.startsWith('train-state')) return 'train-state';
  if (name.endsWith('.safetensors')) return 'weights';
  if (name.endsWith('.onnx')) return 'onnx';
  return 'file';
}

/** The typed error for a failed write of `path`; a full disk gets its own code. */
export function writeFailed(path: string, error: unknown): BranchyIoError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const why = NO_ROOM.has(code) ? 'no room left on its file system' : (error as Error).message;
  return new BranchyIoError(
    NO_ROOM.has(code) ? 'MODEL_DISK_FULL' : 'MODEL_WRITE_FAILED',
    `cannot write '${path}': ${why} (${code || 'error'}); the previous content is left as it was.`,
    { cause: error },
  );
}

/** Flushes a directory's entries (a rename in it) to disk. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (error) {
    // Some file systems cannot fsync a directory (EINVAL, EISDIR on a few); the rename itself has happened.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw writeFailed(dir, error);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes a file so that a reader sees the old content or the new one, never half of it, even across a crash: the
 * bytes go to a temporary file in the same directory, which is flushed to disk, renamed over the target, and the
 * directory flushed in turn.
 *
 * @throws BranchyIoError `MODEL_DISK_FULL` (no room: ENOSPC, EDQUOT, EFBIG) or `MODEL_WRITE_FAILED`, naming the
 *   file; the target keeps its previous content and the temporary file is removed.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const dir = dirname(path);
  const tmp = join(dir, `${TEMP_PREFIX}${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const kind = kindOf(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    for (let at = 0; at < data.length;) at += writeSync(fd, data, at, data.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    failpoint(`write:${kind}:synced`);
    renameSync(tmp, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw writeFailed(path, error);
  }
  failpoint(`write:${kind}:renamed`);
  syncDir(dir);
}

/** Removes the temporary files an interrupted `writeFileAtomic` left in `dir`. */
export function removeStaleTempFiles(dir: string): void {
  for (const name of readdirSync(dir)) if (TEMP_FILE.test(name)) rmSync(join(dir, name), { force: true });
}
