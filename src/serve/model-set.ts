import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { BranchyError } from '../common/errors.ts';
import { MANIFEST_FILE, readManifest, type ModelManifest } from '../io/model-dir.ts';
import { readStoredCalibration } from '../io/stored-calibration.ts';
import { openModel, type OpenModelOptions } from '../open/open-model.ts';
import type { OperatingPointController } from './adaptive.ts';
import { BranchyServeError } from './errors.ts';
import { InThreadHost, WorkerInferenceHost, type InferenceHost } from './inference-host.ts';

/**
 * A model the server answers for, under `name` (its directory's name): its manifest (spec, thresholds,
 * calibration, cost profile), which the server reads, and the host its batches run on.
 */
export interface ServedModel {
  name: string;
  dir: string;
  manifest: ModelManifest;
  /** Where its batches run; it reports the runtime. The caller closes it after the server. */
  host: InferenceHost;
  /**
   * Its own operating-point controller, used whatever the server's SLO (a cascade's first unit brings one that
   * follows its link); without one, the server makes a load-adaptive one when it has an SLO.
   */
  controller?: OperatingPointController;
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
    const subdirs = readdirSync(path, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    found.push(...subdirs.map((name) => ({ name, dir: join(path, name) })));
  }
  const seen = new Map<string, string>();
  for (const { name, dir } of found) {
    const other = seen.get(name);
    if (other !== undefined)
      throw new BranchyServeError(
        'SERVE_DUPLICATE_MODEL',
        `two model directories are named '${name}' ('${other}' and '${dir}'); serve them under different names.`,
        500,
      );
    seen.set(name, dir);
  }
  return found;
}

/** Opens one model directory: reads its manifest and starts the host its batches run on. */
export type ModelOpener = (entry: ModelDirEntry) => Promise<{ manifest: ModelManifest; host: InferenceHost }>;

/**
 * Opens each model on the calling thread: the whole network, run there by an {@link InThreadHost}.
 *
 * @throws BranchyIoError `MODEL_BAD_CALIBRATION` for a malformed stored calibration (the server would refuse it),
 *   or any error of `openModel`.
 */
export function openInProcess(options: OpenModelOptions = {}): ModelOpener {
  return async ({ dir }) => {
    const { model, net } = await openModel(dir, options);
    try {
      readStoredCalibration(model.manifest, dir);
    } catch (error) {
      net.dispose();
      throw error;
    }
    return { manifest: model.manifest, host: new InThreadHost(net) };
  };
}

/**
 * Opens each model on an inference thread of its own ({@link WorkerInferenceHost}): the calling thread reads the
 * manifest alone (and checks its stored calibration, as {@link openInProcess} does), and only the inference
 * thread loads the network.
 */
export function openOnInferenceThread(options: OpenModelOptions = {}): ModelOpener {
  return async ({ name, dir }) => {
    const manifest = readManifest(dir);
    readStoredCalibration(manifest, dir);
    return { manifest, host: await WorkerInferenceHost.start(dir, options, name) };
  };
}

/** A model that could not be served, and why. */
export interface SkippedModel {
  name: string;
  dir: string;
  error: BranchyError;
}

/**
 * Opens every entry. A model that fails to load, here or on its inference thread (or has a name unfit for URLs),
 * is reported through `onSkip` and left out; with `strict` the first such failure is thrown instead, after the
 * hosts opened so far are closed.
 *
 * @throws the model's own error under `strict`; BranchyServeError `SERVE_NO_MODELS` when none could be opened.
 */
export async function openModels(
  entries: readonly ModelDirEntry[],
  open: ModelOpener,
  options: { strict?: boolean; onSkip?: (skipped: SkippedModel) => void } = {},
): Promise<ServedModel[]> {
  const served: ServedModel[] = [];
  for (const { name, dir } of entries) {
    try {
      if (!MODEL_NAME_PATTERN.test(name)) {
        throw new BranchyServeError(
          'SERVE_BAD_MODEL_NAME',
          `model directory '${dir}': its name '${name}' cannot be used in a URL; expected letters, digits, '.', '_' or '-' (at most 128), starting with a letter or digit.`,
          500,
        );
      }
      const { manifest, host } = await open({ name, dir });
      served.push({ name, dir, manifest, host });
    } catch (error) {
      const coded =
        error instanceof BranchyError
          ? error
          : new BranchyServeError('SERVE_MODEL_LOAD_FAILED', `model '${dir}' failed to load: ${(error as Error)?.message ?? String(error)}`, 500, {
              cause: error,
            });
      if (options.strict) {
        await Promise.all(served.map((m) => m.host.close()));
        throw coded;
      }
      options.onSkip?.({ name, dir, error: coded });
    }
  }
  if (served.length === 0) {
    throw new BranchyServeError(
      'SERVE_NO_MODELS',
      `no model could be served from ${entries.length === 0 ? 'the given paths (no model directories found)' : entries.map((e) => `'${e.dir}'`).join(', ')}.`,
      500,
    );
  }
  return served;
}
