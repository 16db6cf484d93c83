import type { TrainingOutcome, TrainRun } from '../train/run-training.ts';

/**
 * Runs `runTraining` with the CLI's progress display. tfjs and the progress bar load here, on the first training
 * run, not when the CLI starts.
 */
export async function trainWithProgress(run: Omit<TrainRun, 'onEvent'>): Promise<TrainingOutcome> {
  const [{ runTraining }, { trainProgress }] = await Promise.all([import('../train/run-training.ts'), import('./progress.ts')]);
  return runTraining({ ...run, onEvent: trainProgress() });
}
