/**
 * Slow connections ({@link slowClients}) held by a process of their own, so that the clock trickling their bytes
 * does not share an event loop with the valid client a bench times beside them. Run as a script, this file is that
 * process: it opens the connections, says when they are all connected, and on its parent's word reports what they
 * saw and closes them.
 *
 * @example
 * const slow = await startSlowClientsProcess({ port, count: 200, path: '/v1/models/b-lenet-mnist/predict' });
 * // ... time a valid client ...
 * const stats = await slow.stop();
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { slowClients, type SlowClientsOptions, type SlowClientStats } from './hostile.ts';

const SELF = fileURLToPath(import.meta.url);

/** Slow connections held by a child process. */
export interface SlowClientsProcess {
  /** What the connections saw, once the child has closed them all and exited. */
  stop(): Promise<SlowClientStats>;
}

type FromChild = { ready: true } | { stats: SlowClientStats };

/** Starts the child; resolves once every one of its `count` connections has connected. */
export function startSlowClientsProcess(options: SlowClientsOptions): Promise<SlowClientsProcess> {
  const child = fork(SELF, [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const next = () =>
    new Promise<FromChild>((resolve, reject) => {
      child.once('message', (m) => resolve(m as FromChild));
      void exited.then((code) => reject(new Error(`the slow clients' process exited with ${code}`)));
    });
  return next().then(() => ({
    async stop() {
      const reply = next();
      child.send('stop');
      const m = await reply;
      await exited;
      if (!('stats' in m)) throw new Error("the slow clients' process sent no stats");
      return m.stats;
    },
  }));
}

if (process.argv[1] === SELF && process.send !== undefined) {
  const send = process.send.bind(process);
  const slow = slowClients(JSON.parse(process.argv[2]) as SlowClientsOptions);
  await slow.ready;
  send({ ready: true });
  process.once('message', () => {
    const stats = slow.stats();
    void slow.stop().then(() => send({ stats }, () => process.exit(0)));
  });
  // A parent that dies without a word takes its slow connections with it.
  process.once('disconnect', () => process.exit(0));
}
