import cliProgress from 'cli-progress';
import type { TrainEvent } from '../train/index.ts';
import { percent } from './table.ts';

/** One line summing up an epoch. */
export function epochLine(e: Extract<TrainEvent, { type: 'epoch-end' }>): string {
  const acc = e.validationAccuracy.map((a, i) => `exit ${i + 1} ${percent(a)}`).join(', ');
  return `epoch ${e.epoch}/${e.epochs}  loss ${e.loss.toFixed(4)}  validation ${acc}  ${e.seconds.toFixed(1)} s  ${Math.round(e.samplesPerSecond)} samples/s`;
}

/**
 * Shows training progress: a bar on a terminal, plain lines (one per epoch) otherwise, so logs stay readable.
 */
export function trainProgress(stream: NodeJS.WriteStream = process.stderr): (event: TrainEvent) => void {
  const tty = stream.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  return (event) => {
    if (event.type === 'epoch-start' && tty) {
      bar = new cliProgress.SingleBar({ stream, format: `epoch ${event.epoch}/${event.epochs} [{bar}] {value}/{total} steps  eta {eta}s`, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
      bar.start(event.steps, 0);
    } else if (event.type === 'step') {
      bar?.update(event.step);
    } else if (event.type === 'epoch-end') {
      bar?.stop();
      bar = undefined;
      stream.write(`${epochLine(event)}\n`);
    }
  };
}
