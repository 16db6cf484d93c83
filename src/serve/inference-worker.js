// A worker thread starts without its parent's module hooks, so it registers tsx itself before loading TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./inference-worker.ts');
