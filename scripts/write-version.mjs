// Writes src/common/version.ts from package.json's version. npm runs it on `npm version` (the "version" script),
// so the version is set in one place; test/common/version.test.ts checks the two agree.
import { readFileSync, writeFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const target = new URL('../src/common/version.ts', import.meta.url);
writeFileSync(
  target,
  `// Written by scripts/write-version.mjs from package.json; do not edit.\n\n/** branchy's version, as in its package.json. */\nexport const BRANCHY_VERSION = '${version}';\n`,
);
