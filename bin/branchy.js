#!/usr/bin/env node
// The CLI runs from the built JavaScript in dist/ (npm ci and npm pack build it; in a clone, npm run build).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("branchy: dist/ is missing: run 'npm run build' (npm ci runs it in a clone).\n");
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
