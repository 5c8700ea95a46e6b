// Restart on the lab page in Chromium: a Run button edits .ddev/config.yaml, Preview Dockerfile
// shows the package step, Restart streams its progress to Done, and the terminal reconnects to
// the new web container, which has the package. The layer list reads like Dockerfile lines. A
// broken Dockerfile.* file shows its error once, with the failing file and the builder's output
// opened at the error, and the old container keeps running commands.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import { LABELS } from '../../lab-server/src/sandbox/labels.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { docker, listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';

const LAB = 'extending-the-web-image';
// A Restart installs a package from Debian's archive, which can take minutes on a busy host.
const RESTART_MS = 10 * 60_000;

describe('Restart on the lab page', () => {
  const instance = uniqueInstance('e2e-extend');
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    server = await startLabServer({ instance, env: { LAB_DATABASE: ':memory:' } });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await server?.kill('SIGTERM');
    await removeInstance(instance);
    await removeBuiltImages(instance);
  });

  test('restart installs a package', { timeout: RESTART_MS + 120_000 }, async () => {
    await page.goto(`${server.url}/labs/${LAB}/`);
    await page.getByTestId('lab-start').click();
    await page
      .getByTestId('lab-status')
      .filter({ hasText: 'containers are running' })
      .waitFor({ timeout: 60_000 });
    const terminal = page.getByTestId('terminal-web');
    await terminal.locator('.xterm-rows', { hasText: '$' }).waitFor({ timeout: 20_000 });
    const oldId = await webContainerId(instance);

    const step = page.getByTestId('step-extra-packages');
    await step.locator('button.lab-run').nth(0).click();
    await step.locator('button.lab-run[data-command*="sed -i"]').click();
    await terminal
      .locator('.xterm-rows > div', { hasText: /^webimage_extra_packages: \[figlet\]\s*$/ })
      .waitFor({ timeout: 10_000 });

    await page.getByTestId('build-preview').click();
    const packages = page.locator('.lab-build-section[data-source="webimage_extra_packages"]');
    await packages.waitFor({ timeout: 20_000 });
    assert.match((await packages.textContent()) ?? '', /apt-get install .* figlet/);

    await page.getByTestId('build-restart').click();
    await page.locator('.lab-build-phases li[data-phase="building"]').waitFor({ timeout: 20_000 });
    await page.locator('.lab-build[data-outcome="done"]').waitFor({ timeout: RESTART_MS });

    const phases = await page
      .locator('.lab-build-phases li')
      .evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.phase));
    assert.deepEqual(phases, ['requested', 'reading', 'building', 'recreating', 'done']);
    assert.match(
      (await page.getByTestId('build-log').textContent()) ?? '',
      /Step \d+\/\d+ : RUN \(timeout/,
    );
    assert.match(
      (await page.getByTestId('build-state').textContent()) ?? '',
      /^Done in [\d.]+ s: the web container now runs \S+-extend-web-built\./,
    );
    const madeBy = await page.locator('.lab-build-layers tbody td:nth-child(2)').allTextContents();
    assert.ok(madeBy.length > 0, 'the layer list is empty');
    assert.ok(
      madeBy.every((text) => text.trim() !== '' && !text.includes('&{')),
      `a layer reads oddly: ${madeBy.filter((text) => !text.trim() || text.includes('&{'))}`,
    );
    assert.ok(
      madeBy.some((text) =>
        /^HEALTHCHECK --interval=\S+ .*CMD \["\/healthcheck\.sh"\]$/.test(text),
      ),
      'no HEALTHCHECK layer reads as a Dockerfile line',
    );
    assert.match(madeBy.at(-1)!, /base image/);
    assert.ok(
      madeBy.some((text) => /^RUN .*figlet/.test(text.trim())),
      `no RUN layer installs figlet: ${madeBy.join(' | ')}`,
    );
    assert.ok(
      madeBy.every((text) => !/^\|\d+ /.test(text.trim())),
      'a layer shows the build arguments prefix',
    );
    await assertExtraStepsNamed(page);
    const newId = await webContainerId(instance);
    assert.notEqual(newId, oldId);

    await terminal.locator('.xterm-rows', { hasText: '$' }).waitFor({ timeout: 20_000 });
    assert.equal(await terminal.getAttribute('data-connection'), 'open');
    await terminal.click();
    await page.keyboard.type('command -v figlet');
    await page.keyboard.press('Enter');
    await terminal
      .locator('.xterm-rows > div', { hasText: /^\/usr\/bin\/figlet\s*$/ })
      .waitFor({ timeout: 10_000 });

    await page.getByTestId('check-extra-packages').click();
    await page
      .getByTestId('result-extra-packages')
      .filter({ hasText: 'Passed' })
      .waitFor({ timeout: 30_000 });
    assert.deepEqual(errors, []);
  });

  test('failing fragment keeps container', { timeout: RESTART_MS }, async () => {
    const terminal = page.getByTestId('terminal-web');
    const runningId = await webContainerId(instance);
    await terminal.click();
    await page.keyboard.type(
      "printf 'RUN no-such-tool --version\\n' > .ddev/web-build/Dockerfile.broken",
    );
    await page.keyboard.press('Enter');

    await page.getByTestId('build-restart').click();
    await page.locator('.lab-build[data-outcome="failed"]').waitFor({ timeout: RESTART_MS });

    const message = page.getByTestId('build-error-message');
    assert.match(
      (await message.textContent()) ?? '',
      /step \d+ RUN no-such-tool --version \(from web-build\/Dockerfile\.broken\).*returned a non-zero code: 127.*still running/,
    );
    assert.equal(await message.locator('code').first().textContent(), 'RUN no-such-tool --version');
    assert.equal(
      await page.getByTestId('build-error-where').isVisible(),
      false,
      'the failing step is named twice',
    );
    assert.equal(
      await page.getByTestId('build-state').textContent(),
      '✗ Failed: the build panel below says why.',
    );
    assert.doesNotMatch(
      (await page.getByTestId('lab-status').textContent()) ?? '',
      /non-zero code/,
    );
    const phases = await page
      .locator('.lab-build-phases li')
      .evaluateAll((items) =>
        items.map(
          (item) => `${(item as HTMLElement).dataset.phase}:${(item as HTMLElement).dataset.state}`,
        ),
      );
    assert.deepEqual(phases.slice(-2), ['building:failed', 'failed:failed']);
    await page
      .locator('.lab-build-section[data-source="web-build/Dockerfile.broken"][data-state="failed"]')
      .waitFor();
    assert.equal(await webContainerId(instance), runningId);

    // The builder's output is open at its end, where the error is, and shows no escape codes.
    assert.equal(await page.getByTestId('build-log').getAttribute('open'), '');
    const output = page.locator('.lab-build-log pre');
    assert.ok(
      await output.evaluate(
        (pre) => pre.scrollTop > 0 && pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 2,
      ),
      'the output is not scrolled to its end',
    );
    assert.doesNotMatch((await output.textContent()) ?? '', /\x1b/);
    await assertExtraStepsNamed(page);

    assert.equal(await terminal.getAttribute('data-connection'), 'open');
    await terminal.click();
    await page.keyboard.type('echo "alive-$((40+2)) $(command -v figlet)"');
    await page.keyboard.press('Enter');
    await terminal
      .locator('.xterm-rows > div', { hasText: /^alive-42 \/usr\/bin\/figlet\s*$/ })
      .waitFor({ timeout: 10_000 });
    assert.deepEqual(errors, []);
  });
});

/**
 * When the builder counts steps the Dockerfile lacks (the lab server's LABEL lines at the end),
 * the output's note names them, and only them.
 */
async function assertExtraStepsNamed(page: Page): Promise<void> {
  const log = (await page.locator('.lab-build-log code').textContent()) ?? '';
  const steps = [...log.matchAll(/^Step (\d+)\/(\d+) : (.*)$/gm)].map((match) => ({
    number: Number(match[1]),
    total: Number(match[2]),
    text: match[3]!,
  }));
  const note = page.getByTestId('build-extra-steps');

  // The note sits in the output's box, which may be closed: its hidden attribute is what counts.
  if (await note.evaluate((element) => (element as HTMLElement).hidden)) {
    assert.ok(
      steps.every((step) => !step.text.startsWith('LABEL dev.ddevlab.')),
      'the output has LABEL steps of the lab server but no note on them',
    );
    return;
  }
  const named = /^Steps (\d+) to (\d+) are not in the Dockerfile: they are LABEL lines/.exec(
    (await note.textContent()) ?? '',
  );
  assert.ok(named, `the note reads: ${await note.textContent()}`);
  assert.equal(Number(named[2]), steps[0]?.total);
  for (const step of steps) {
    assert.equal(
      step.number >= Number(named[1]),
      step.text.startsWith('LABEL dev.ddevlab.'),
      `step ${step.number} (${step.text}) is counted wrongly`,
    );
  }
}

async function webContainerId(instance: string): Promise<string> {
  const { containers } = await listManaged(instance);
  const web = containers.filter(
    (container) => container.Labels[LABELS.service] === 'web' && container.State === 'running',
  );
  assert.equal(web.length, 1, `expected one running web container, found ${web.length}`);
  return web[0]!.Id;
}

/** Removes the `-built` images a Restart made, found by the instance's labels, once their containers are gone. */
async function removeBuiltImages(instance: string): Promise<void> {
  const filters = JSON.stringify({
    label: [`${LABELS.managed}=true`, `${LABELS.instance}=${instance}`],
  });
  const images = await docker.listImages({ filters });
  await Promise.all(
    images.map((image) =>
      docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}
