import { BranchyArgumentError, BranchyIoError } from '../common/errors.ts';
import { goingOnShares } from '../engine/ort/index.ts';
import { nodeOrtEngine } from '../engine/ort/node-engine.ts';
import { tfjsEngine, type TfjsBackend } from '../engine/tfjs/index.ts';
import type { EngineName, LoadedNetwork, ModelSource } from '../engine/types.ts';
import { loadModelDir, type LoadedModelDir } from '../io/model-dir.ts';
import { hasLayers } from '../spec/shapes.ts';
import { readStoredCalibration } from '../io/stored-calibration.ts';

/** Which engine runs a model: `auto` runs onnxruntime when the model directory has ONNX files, else tfjs. */
export type EngineChoice = 'auto' | EngineName;

/** The engine choices `openModel` accepts. */
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'tfjs', 'ort'];

/** How `openModel` runs a model. */
export interface OpenModelOptions {
  /** Default `auto`. `ort` on a model without ONNX files exports them in memory from the weights. */
  engine?: EngineChoice;
  /** tfjs backend (default `wasm`); used by the tfjs engine only. */
  backend?: TfjsBackend;
  /** onnxruntime intra-op threads (default: onnxruntime's choice); used by the ort engine only. */
  threads?: number;
}

/**
 * Per early exit, the share of samples going on past it at the model's calibrated operating point, if any, whatever
 * criterion it was calibrated for: the shares only guide a speed trade-off. A malformed calibration only loses the
 * guide: opening a model must not depend on it, since recalibrating, which replaces it, opens the model first (the
 * server and the report, which use the calibration itself, refuse it).
 */
function calibratedGoingOn(model: LoadedModelDir): number[] | undefined {
  let calibration;
  try {
    calibration = readStoredCalibration(model.manifest, model.dir);
  } catch (error) {
    if (error instanceof BranchyIoError && error.code === 'MODEL_BAD_CALIBRATION') return undefined;
    throw error;
  }
  return calibration && goingOnShares(calibration.front[calibration.chosen].exitShare);
}

/** The engine `openModel` runs a model on. */
export function resolveEngine(model: ModelSource, engine: EngineChoice = 'auto'): EngineName {
  if (!ENGINE_CHOICES.includes(engine))
    throw new BranchyArgumentError('ENGINE_UNKNOWN', `'engine' is ${JSON.stringify(engine)}; expected one of ${ENGINE_CHOICES.join(', ')}.`);
  if (engine !== 'auto') return engine;
  return model.onnx || !hasLayers(model.spec) ? 'ort' : 'tfjs';
}

/**
 * Reads a model directory and loads it on an engine: onnxruntime-node (`LoadedNetwork.runtime` `ort-cpu`) or
 * tfjs (`tfjs-wasm` / `tfjs-cpu`). On ort, a calibrated model's exit shares at its chosen point guide how each
 * stage carries features on (`OrtSessionOptions.goingOn`).
 *
 * @throws BranchyArgumentError `ENGINE_THREADS_NEED_ORT` when `threads` is given and the model runs on tfjs;
 *   `ENGINE_NEEDS_LAYERS` for tfjs on a network imported from ONNX; any error of `loadModelDir`.
 * @example
 * const { model, net } = await openModel('models/b-lenet-mnist', { engine: 'ort', threads: 1 });
 */
export async function openModel(dir: string, options: OpenModelOptions = {}): Promise<{ model: LoadedModelDir; net: LoadedNetwork }> {
  const model = loadModelDir(dir);
  const engine = resolveEngine(model, options.engine);
  if (engine === 'tfjs' && options.threads !== undefined) {
    throw new BranchyArgumentError(
      'ENGINE_THREADS_NEED_ORT',
      `'threads' sets onnxruntime's threads, but '${dir}' runs on tfjs${options.engine === 'auto' || options.engine === undefined ? " (it has no ONNX files; choose engine 'ort')" : ''}.`,
    );
  }
  const net =
    engine === 'ort'
      ? await (await nodeOrtEngine({ threads: options.threads, goingOn: calibratedGoingOn(model) })).load(model)
      : await tfjsEngine(options.backend ?? 'wasm').load(model);
  return { model, net };
}
