import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { BranchyError } from '../common/errors.ts';
import type { LoadedNetwork } from '../engine/types.ts';
import { MANIFEST_FILE, type ModelManifest } from '../io/model-dir.ts';
import { BranchyServeError } from './errors.ts';
import type { InferenceHost } from './inference-host.ts';

/** A model the server answers for, under `name` (its directory's name). */
export interface ServedModel {
  name: string;
  dir: string;
  manifest: ModelManifest;
  net: LoadedNetwork;
  /** Where its batches run; default on the server's thread, on `net`. The caller closes it after the server. */
  host?: InferenceHost;
}

/** Model names the server accepts in URLs: no path characters, at most 128 characters. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A model directory found on disk, not yet loaded. */
export interface ModelDirEntry {
  name: string;
  dir: string;
}

/**
 * The model directories `paths` name: a path holding `branchy.json` is one model; any other directory stands for
 * each of its subdirectories (sorted), so `branchy serve models/` serves every model under it.
 *
 * @throws BranchyServeError `SERVE_NO_SUCH_PATH` for a path that does not exist or is not a directory,
 *   `SERVE_DUPLICATE_MODEL` when two directories have the same name.
 */
export function findModelDirs(paths: readonly string[]): ModelDirEntry[] {
  const found: ModelDirEntry[] = [];
  for (const path of paths) {
    if (!existsSync(path) || !statSync(path).isDirectory()) {
      throw new BranchyServeError('SERVE_NO_SUCH_PATH', `'${path}' is not a directory; expected a model directory or a directory of model directories.`, 500);
    }
    if (existsSync(join(path, MANIFEST_FILE))) {
      found.push({ name: basename(resolve(path)), dir: path });
      continue;
    }
    const subdirs = readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    found.push(...subdirs.map((name) => ({ name, dir: join(path, name) })));
  }
  const seen = new Map<string, string>();
  for (const { name, dir } of found) {
    const other = seen.get(name);
    if (other !== undefined) throw new BranchyServeError('SERVE_DUPLICATE_MODEL', `two model directories are named '${name}' ('${other}' and '${dir}'); serve them under different names.`, 500);
    seen.set(name, dir);
  }
  return found;
}

/** Opens one model directory on an engine. The CLI passes its `openModel`, so this layer never picks an engine. */
export type ModelOpener = (dir: string) => Promise<{ model: { manifest: ModelManifest }; net: LoadedNetwork }>;

/** A model that could not be served, and why. */
export interface SkippedModel {
  name: string;
  dir: string;
  error: BranchyError;
}

/**
 * Opens every entry. A model that fails to load (or has a name unfit for URLs) is reported through `onSkip` and
 * left out; with `strict` the first such failure is thrown instead, after the models opened so far are disposed.
 *
 * @throws the model's own error under `strict`; BranchyServeError `SERVE_NO_MODELS` when none could be opened.
 */
export async function openModels(entries: readonly ModelDirEntry[], open: ModelOpener, options: { strict?: boolean; onSkip?: (skipped: SkippedModel) => void } = {}): Promise<ServedModel[]> {
  const served: ServedModel[] = [];
  for (const { name, dir } of entries) {
    try {
      if (!MODEL_NAME_PATTERN.test(name)) {
        throw new BranchyServeError('SERVE_BAD_MODEL_NAME', `model directory '${dir}': its name '${name}' cannot be used in a URL; expected letters, digits, '.', '_' or '-' (at most 128), starting with a letter or digit.`, 500);
      }
      const { model, net } = await open(dir);
      served.push({ name, dir, manifest: model.manifest, net });
    } catch (error) {
      const coded = error instanceof BranchyError ? error : new BranchyServeError('SERVE_MODEL_LOAD_FAILED', `model '${dir}' failed to load: ${(error as Error)?.message ?? String(error)}`, 500, { cause: error });
      if (options.strict) {
        served.forEach((m) => m.net.dispose());
        throw coded;
      }
      options.onSkip?.({ name, dir, error: coded });
    }
  }
  if (served.length === 0) {
    throw new BranchyServeError('SERVE_NO_MODELS', `no model could be served from ${entries.length === 0 ? 'the given paths (no model directories found)' : entries.map((e) => `'${e.dir}'`).join(', ')}.`, 500);
  }
  return served;
}
