// Run from the sources, the forked client registers tsx itself before loading TypeScript (as the inference worker does).
import { register } from 'tsx/esm/api';

register();
await import('./request-client.ts');
