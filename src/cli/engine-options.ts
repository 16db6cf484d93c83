import { Option, type Command } from 'commander';
import { TFJS_BACKENDS, type TfjsBackend } from '../engine/tfjs/index.ts';
import { ENGINE_CHOICES, type EngineChoice, type OpenModelOptions } from '../open/open-model.ts';
import { positiveInt } from './parse.ts';

/** `--backend wasm|cpu`, as every command that runs a network takes it. */
export function addBackendOption(cmd: Command): Command {
  return cmd.addOption(new Option('--backend <name>', 'tfjs backend').choices([...TFJS_BACKENDS]).default('wasm'));
}

/** `--engine auto|tfjs|ort`, `--threads N` and `--backend wasm|cpu`, for every command that runs a model. */
export function addEngineOptions(cmd: Command): Command {
  return addBackendOption(cmd)
    .addOption(
      new Option('--engine <name>', 'auto: onnxruntime when the model directory has ONNX files, else tfjs; ort on a directory without them exports in memory')
        .choices([...ENGINE_CHOICES])
        .default('auto'),
    )
    .addOption(new Option('--threads <n>', "onnxruntime intra-op threads (default: onnxruntime's choice, one per core)").argParser(positiveInt('--threads')));
}

/** The `openModel` options a command's parsed `--engine`, `--backend` and `--threads` give. */
export function engineOptions(o: Record<string, unknown>): OpenModelOptions {
  return { engine: o.engine as EngineChoice, backend: o.backend as TfjsBackend, threads: o.threads as number | undefined };
}
