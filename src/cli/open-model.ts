import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { TFJS_BACKENDS, tfjsEngine, type TfjsBackend } from '../engine/tfjs/index.ts';
import type { LoadedNetwork } from '../engine/types.ts';
import { loadModelDir, type LoadedModelDir } from '../io/index.ts';

/** The B-LeNet the package ships, trained on the mnist package's digits. */
export const SHIPPED_MODEL_DIR = fileURLToPath(new URL('../../models/b-lenet-mnist', import.meta.url));

/** The LeNet baseline the shipped B-LeNet was started from. */
export const SHIPPED_BASELINE_DIR = fileURLToPath(new URL('../../models/lenet-mnist', import.meta.url));

/** Reads a model directory and loads it on the tfjs engine. */
export async function openModel(dir: string, backend: TfjsBackend): Promise<{ model: LoadedModelDir; net: LoadedNetwork }> {
  const model = loadModelDir(dir);
  const net = await tfjsEngine(backend).load(model);
  return { model, net };
}

/** `--backend wasm|cpu`, as every command that runs a network takes it. */
export function addBackendOption(cmd: Command): Command {
  return cmd.addOption(new Option('--backend <name>', 'tfjs backend').choices([...TFJS_BACKENDS]).default('wasm'));
}
