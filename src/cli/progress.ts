import cliProgress from 'cli-progress';
import type { TrainEvent } from '../train/index.ts';
import { percent } from '../report/text-table.ts';

/** One line summing up an epoch. */
export function epochLine(e: Extract<TrainEvent, { type: 'epoch-end' }>): string {
  const acc = e.validationAccuracy.map((a, i) => `exit ${i + 1} ${percent(a)}`).join(', ');
  return `epoch ${e.epoch}/${e.epochs}  loss ${e.loss.toFixed(4)}  validation ${acc}  ${e.seconds.toFixed(1)} s  ${Math.round(e.samplesPerSecond)} samples/s`;
}

/**
 * Shows training progress: a bar on `barStream` when it is a terminal (none otherwise, so logs stay readable),
 * and one summary line per epoch on `lineStream`.
 */
export function trainProgress(barStream: NodeJS.WriteStream = process.stderr, lineStream: NodeJS.WritableStream = process.stdout): (event: TrainEvent) => void {
  const tty = barStream.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  return (event) => {
    if (event.type === 'epoch-start' && tty) {
      bar = new cliProgress.SingleBar(
        {
          stream: barStream,
          format: `epoch ${event.epoch}/${event.epochs} [{bar}] {value}/{total} steps  eta {eta}s`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(event.steps, 0);
    } else if (event.type === 'step') {
      bar?.update(event.step);
    } else if (event.type === 'epoch-end') {
      bar?.stop();
      bar = undefined;
      lineStream.write(`${epochLine(event)}\n`);
    }
  };
}
