import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { branchy } from '../helpers.ts';
import { lenetPlan } from './fixtures.ts';

const BIN = fileURLToPath(new URL('../../bin/branchy.js', import.meta.url));

describe('branchy unit --web and branchy demo --web', () => {
  it('refuse to serve the page from the first unit, naming the unit that can', async () => {
    const { planDir } = lenetPlan();
    const { code, stderr } = await branchy('unit', planDir, '--unit', 'device', '--web');
    assert.notEqual(code, 0);
    assert.match(stderr, /CASCADE_WEB_UNIT: .*serve the page from 'cloud'/);
    const samples = await branchy('unit', planDir, '--unit', 'cloud', '--web-samples', 'x.safetensors');
    assert.match(samples.stderr, /CLI_CONFLICTING_OPTIONS: --web-samples needs --web/);
  });

  it('branchy demo --web prints the page address, serves the page and stops on SIGTERM', { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, [BIN, 'demo', '--web', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no address within 30 s: ${out}`)), 30_000);
        child.stdout.on('data', () => {
          const m = /edge page is at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        void exited.then((code) => reject(new Error(`exited with ${code}: ${out}`)));
      });
      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script type="module" src="\/web\/page\.js">/);
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.equal((await fetch(`${url}/web/page.js`)).status, 200, 'the bundle npm run build wrote');
      const config = (await (await fetch(`${url}/web/config.json`)).json()) as { unit: { name: string }; successor: { unit: string } };
      assert.deepEqual([config.unit.name, config.successor.unit], ['device', 'cloud']);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    assert.match(out, /stopping/);
  });
});
