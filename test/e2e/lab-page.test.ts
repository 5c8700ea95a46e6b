// A learner's path through the lab page in a real browser: open the page, press Start, type into
// the terminal, run a command with its button, and pass a check.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';

import { launchBrowser } from '../helpers/browser.ts';
import { listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';

describe('lab page in Chromium', () => {
  const instance = uniqueInstance('e2e-lab');
  let server: RunningServer;
  let browser: Browser;

  before(async () => {
    server = await startLabServer({ instance });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  test('start, type, check, stop', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    await page.goto(`${server.url}/labs/inside-the-web-container/`);
    await page.getByTestId('lab-start').click();

    const terminal = page.getByTestId('terminal-web');
    await terminal.locator('.xterm-rows').waitFor();
    await page.getByTestId('lab-status').filter({ hasText: 'containers are running' }).waitFor();
    await terminal.locator('.xterm-rows', { hasText: '$' }).waitFor({ timeout: 20_000 });

    await terminal.click();
    await page.keyboard.type('echo $((6*7))');
    await page.keyboard.press('Enter');
    await terminal.locator('.xterm-rows > div', { hasText: /^42\s*$/ }).waitFor({ timeout: 10_000 });

    await page.getByTestId('check-pid-one').click();
    await page.getByTestId('result-pid-one').filter({ hasText: 'pid1.txt is missing' }).waitFor();

    await page.getByTestId('step-pid-one').getByRole('button', { name: 'Run' }).nth(1).click();
    await terminal.locator('.xterm-rows > div', { hasText: /^supervisord\s*$/ }).waitFor({ timeout: 10_000 });
    await page.getByTestId('check-pid-one').click();
    await page.getByTestId('result-pid-one').filter({ hasText: 'Passed' }).waitFor();
    assert.equal(await page.getByTestId('step-pid-one').getAttribute('class'), 'lab-step passed');

    const running = await listManaged(instance);
    assert.equal(running.containers.length, 1);
    await page.getByTestId('lab-stop').click();
    await page.getByTestId('lab-status').filter({ hasText: 'stopped' }).waitFor();
    await waitUntil(async () => (await listManaged(instance)).containers.length === 0);

    assert.deepEqual(errors, []);
  });

  test('guide page loads no terminal code', async () => {
    const page = await browser.newPage();
    const scripts: string[] = [];
    page.on('response', (response) => {
      if (response.request().resourceType() === 'script') scripts.push(response.url());
    });

    await page.goto(`${server.url}/labs/inside-the-web-container/`);
    await page.waitForLoadState('networkidle');

    const loadedXterm = await page.evaluate(() => document.querySelector('.xterm') !== null);
    assert.equal(loadedXterm, false);
    for (const url of scripts) {
      const body = await (await fetch(url)).text();
      assert.ok(!body.includes('xterm-helper-textarea'), `${url} contains xterm.js before Start`);
    }
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`condition not met within ${timeoutMs} ms`);
}
