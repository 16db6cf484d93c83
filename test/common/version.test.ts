import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BRANCHY_VERSION } from '../../src/common/version.ts';
import { branchy } from '../helpers.ts';

const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('version', () => {
  it("is package.json's version (scripts/write-version.mjs writes it on npm version)", () => {
    assert.equal(BRANCHY_VERSION, packageVersion);
  });

  it('branchy --version prints it', async () => {
    const { stdout, code } = await branchy('--version');
    assert.equal(code, 0);
    assert.equal(stdout.trim(), packageVersion);
  });
});
