import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { BranchyArgumentError } from '../common/errors.ts';
import { nodeOrtEngine } from '../engine/ort/node-engine.ts';
import { TFJS_BACKENDS, tfjsEngine, type TfjsBackend } from '../engine/tfjs/index.ts';
import type { EngineName, LoadedNetwork, ModelSource } from '../engine/types.ts';
import { loadModelDir, type LoadedModelDir } from '../io/index.ts';
import { hasLayers } from '../spec/shapes.ts';
import { positiveInt } from './parse.ts';

/** The B-LeNet the package ships, trained on the mnist package's digits. */
export const SHIPPED_MODEL_DIR = fileURLToPath(new URL('../../models/b-lenet-mnist', import.meta.url));

/** The LeNet baseline the shipped B-LeNet was started from. */
export const SHIPPED_BASELINE_DIR = fileURLToPath(new URL('../../models/lenet-mnist', import.meta.url));

/** `--engine`: `auto` runs onnxruntime when the model directory has ONNX files, else tfjs. */
export type EngineChoice = 'auto' | EngineName;

/** The `--engine` values. */
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

/** The engine `openModel` runs a model on. */
export function resolveEngine(model: ModelSource, engine: EngineChoice = 'auto'): EngineName {
  if (!ENGINE_CHOICES.includes(engine)) throw new BranchyArgumentError('ENGINE_UNKNOWN', `'engine' is ${JSON.stringify(engine)}; expected one of ${ENGINE_CHOICES.join(', ')}.`);
  if (engine !== 'auto') return engine;
  return model.onnx || !hasLayers(model.spec) ? 'ort' : 'tfjs';
}

/**
 * Reads a model directory and loads it on an engine: onnxruntime-node (`LoadedNetwork.runtime` `ort-cpu`) or
 * tfjs (`tfjs-wasm` / `tfjs-cpu`).
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
    throw new BranchyArgumentError('ENGINE_THREADS_NEED_ORT', `--threads sets onnxruntime's threads, but '${dir}' runs on tfjs${options.engine === 'auto' || options.engine === undefined ? ' (it has no ONNX files; add --engine ort)' : ''}.`);
  }
  const net = engine === 'ort' ? await (await nodeOrtEngine({ threads: options.threads })).load(model) : await tfjsEngine(options.backend ?? 'wasm').load(model);
  return { model, net };
}

/** `--backend wasm|cpu`, as every command that runs a network takes it. */
export function addBackendOption(cmd: Command): Command {
  return cmd.addOption(new Option('--backend <name>', 'tfjs backend').choices([...TFJS_BACKENDS]).default('wasm'));
}

/** `--engine auto|tfjs|ort`, `--threads N` and `--backend wasm|cpu`, for every command that runs a model. */
export function addEngineOptions(cmd: Command): Command {
  return addBackendOption(cmd)
    .addOption(new Option('--engine <name>', 'auto: onnxruntime when the model directory has ONNX files, else tfjs; ort on a directory without them exports in memory').choices([...ENGINE_CHOICES]).default('auto'))
    .addOption(new Option('--threads <n>', "onnxruntime intra-op threads (default: onnxruntime's choice, one per core)").argParser(positiveInt('--threads')));
}

/** The `openModel` options a command's parsed `--engine`, `--backend` and `--threads` give. */
export function engineOptions(o: Record<string, unknown>): OpenModelOptions {
  return { engine: o.engine as EngineChoice, backend: o.backend as TfjsBackend, threads: o.threads as number | undefined };
}
