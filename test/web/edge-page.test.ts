import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page, Request } from 'playwright-core';
import { featureBytes } from '../../src/cascade/feature-codec.ts';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { tempDir } from '../helpers.ts';
import { startUnit, type RunningUnit } from '../cascade/units.ts';
import { CHROMIUM_PACKAGE, needs } from '../system-packages.ts';

/** Where the screenshots go: a folder of its own, kept after the run so that they can be looked at. */
const OUTPUT = process.env.BRANCHY_TEST_OUTPUT ?? join(tmpdir(), 'branchy-web-test');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const STEP_MS = 30_000;

/** Draws a polyline on the pad with the mouse, in fractions of its size. */
async function draw(page: Page, points: [number, number][]): Promise<void> {
  const box = await page.locator('#pad').boundingBox();
  assert.ok(box, 'the pad is on screen');
  const at = ([x, y]: [number, number]) => [box.x + x * box.width, box.y + y * box.height] as const;
  await page.mouse.move(...at(points[0]));
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 12 });
  await page.mouse.up();
}

/** Waits until the answer shows a finished classification; returns its data attributes. */
async function answer(page: Page): Promise<Record<string, string>> {
  await page.waitForFunction(() => ['browser', 'server', 'degraded'].includes(document.getElementById('answer')!.dataset.place ?? ''), null, {
    timeout: STEP_MS,
  });
  return page.evaluate(
    () => ({ ...document.getElementById('answer')!.dataset, text: document.getElementById('answer')!.textContent ?? '' }) as Record<string, string>,
  );
}

async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: STEP_MS });
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', (await page.textContent('#summary')) ?? '');
  await page.waitForFunction(() => document.body.dataset.tradeOff === 'ready', null, { timeout: STEP_MS });
}

describe(
  'the edge page in Chromium: unit 1 of B-LeNet in the browser, unit 2 behind branchy unit --web',
  { skip: needs(CHROMIUM_PACKAGE), timeout: 240_000 },
  () => {
    let plan: DeploymentPlan;
    let cloud: RunningUnit;
    let browser: Browser;
    let page: Page;
    const forwards: Request[] = [];
    const foreign: string[] = [];
    const problems: string[] = [];

    before(async () => {
      mkdirSync(OUTPUT, { recursive: true });
      const planDir = join(tempDir(), 'lenet');
      plan = writePlan(planDir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1], names: ['device', 'cloud'] }));
      cloud = await startUnit(planDir, 'cloud', '--web');
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({ executablePath: CHROMIUM_PACKAGE.path, args: CHROMIUM_ARGS, timeout: STEP_MS });
      page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
      page.setDefaultTimeout(STEP_MS);
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
      });
      page.on('request', (r) => {
        if (!r.url().startsWith(`${cloud.url}/`)) foreign.push(r.url());
        if (r.method() === 'POST' && r.url().includes('/v1/units/')) forwards.push(r);
      });
      page.on('console', (m) => {
        if (m.type() === 'error' && !/Failed to load resource: net::ERR_CONNECTION_REFUSED/.test(m.text())) problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`${cloud.url}/`);
      await ready(page);
    });

    after(async () => {
      await browser?.close();
      await cloud?.stop();
    });

    it('loads everything from the unit itself (no other origin), with no CSP violation or script error', async () => {
      assert.deepEqual(foreign, []);
      assert.deepEqual(problems, []);
      const summary = await page.textContent('#summary');
      assert.match(summary ?? '', /unit device .* onnxruntime-web/);
      const tradeOff = await page.evaluate(() => ({ ...document.getElementById('trade-off')!.dataset }));
      assert.ok(Number(tradeOff.accuracy) > 0.95, `accuracy on the shipped batch at the plan's threshold: ${tradeOff.accuracy}`);
      assert.ok(Number(tradeOff.browserShare) > 0.8, `share answered in the browser: ${tradeOff.browserShare}`);
    });

    it('a clearly drawn 1 is answered by exit 1 in the browser, and nothing is sent to the server', async () => {
      forwards.length = 0;
      await draw(page, [
        [0.5, 0.15],
        [0.5, 0.85],
      ]);
      const a = await answer(page);
      assert.equal(a.place, 'browser', a.text);
      assert.equal(a.exit, '1');
      assert.equal(a.label, '1', a.text);
      assert.equal(a.sentBytes, '0');
      assert.equal(forwards.length, 0, 'no request to the server');
      assert.match((await page.textContent('#local')) ?? '', /^1 at exit 1, entropy/);
      await page.screenshot({ path: join(OUTPUT, 'browser-answer.png'), fullPage: true });
    });

    it('with the threshold moved to 0 by keyboard, the server answers from a features frame of the expected size', async () => {
      forwards.length = 0;
      await page.focus('#threshold');
      await page.keyboard.press('Home');
      assert.equal(await page.inputValue('#threshold'), '0');
      // The slider's change re-classifies the drawing: now exit 1 never passes, so stage 1's features go to 'cloud'.
      await page.waitForFunction(() => document.getElementById('answer')!.dataset.place === 'server', null, { timeout: STEP_MS });
      const a = await answer(page);
      assert.equal(a.place, 'server', a.text);
      assert.equal(a.exit, '2');
      assert.equal(a.label, '1', a.text);
      assert.equal(forwards.length, 1, 'one request to the server');
      const expected = featureBytes(plan.units[1].inputShape, 1, 'f32', { modelId: plan.modelId, stage: 1, thresholds: [0], from: 'device' });
      assert.equal(forwards[0].postDataBuffer()?.length, expected, 'a 30×30×5 f32 features frame');
      assert.equal(Number(a.sentBytes), expected);
      assert.equal(new URL(forwards[0].url()).pathname, '/v1/units/cloud/forward');
      const tradeOff = await page.evaluate(() => ({ ...document.getElementById('trade-off')!.dataset }));
      assert.equal(tradeOff.browserShare, '0', 'at threshold 0 nothing is answered in the browser');
      await page.screenshot({ path: join(OUTPUT, 'server-answer.png'), fullPage: true });
    });

    it('Escape clears the input, and a picked test image is classified', async () => {
      await page.keyboard.press('Escape');
      assert.match((await page.textContent('#answer')) ?? '', /^Cleared/);
      await page.focus('#threshold');
      await page.keyboard.press('End');
      await page.click('#samples button[aria-label$=": 7"]');
      const a = await answer(page);
      assert.equal(a.place, 'browser', a.text);
      assert.equal(a.label, '7');
    });

    it('with the server stopped, the page answers from the browser exit, marked degraded', async () => {
      await cloud.stop();
      await page.focus('#threshold');
      await page.keyboard.press('Home');
      const a = await answer(page);
      assert.equal(a.place, 'degraded', a.text);
      assert.equal(a.reason, 'unreachable');
      assert.equal(a.exit, '1');
      assert.equal(a.label, '7', 'the browser exit still answers');
      assert.match(a.text, /degraded/);
      assert.equal(await page.evaluate(() => document.body.dataset.server), 'down');
      assert.match((await page.textContent('#server-status')) ?? '', /did not answer \(unreachable\)/);
      await page.screenshot({ path: join(OUTPUT, 'degraded-answer.png'), fullPage: true });
      assert.deepEqual(problems, []);
    });
  },
);
