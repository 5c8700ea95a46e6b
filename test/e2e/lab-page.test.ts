// A learner's path through the lab page in a real browser: open the page, press Start, type into
// the terminal, complete a whole lab with its Run buttons and checks, do a step again, reload and
// find the progress and the session again, open a web service through the proxy, and start over.
// On short and narrow screens the terminal stays in view and Run shows where its command went.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';

import { launchBrowser } from '../helpers/browser.ts';
import { listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';

const LAB = 'inside-the-web-container';

describe('lab page in Chromium', () => {
  const instance = uniqueInstance('e2e-lab');
  let server: RunningServer;
  let browser: Browser;

  before(async () => {
    server = await startLabServer({ instance, env: { LAB_DATABASE: ':memory:' } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  test('complete a lab with Run buttons', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    await page.goto(`${server.url}/labs/${LAB}/`);
    await page.getByTestId('lab-start').click();
    const terminal = page.getByTestId('terminal-web');
    await page
      .getByTestId('lab-status')
      .filter({ hasText: 'containers are running' })
      .waitFor({ timeout: 60_000 });
    await terminal.locator('.xterm-rows', { hasText: '$' }).waitFor({ timeout: 20_000 });
    assert.match((await page.getByTestId('lab-timer').textContent()) ?? '', /^\d+:\d\d left$/);

    await terminal.click();
    await page.keyboard.type('echo $((6*7))');
    await page.keyboard.press('Enter');
    await terminal
      .locator('.xterm-rows > div', { hasText: /^42\s*$/ })
      .waitFor({ timeout: 10_000 });

    await page.getByTestId('check-pid-one').click();
    await page.getByTestId('result-pid-one').filter({ hasText: 'pid1.txt is missing' }).waitFor();
    assert.equal(await page.getByTestId('hints-pid-one').locator('li').count(), 1);

    const steps = await page
      .locator('.lab-step')
      .evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.stepId!));
    for (const stepId of steps) await completeStep(page, stepId);
    // Earned hints go once the step passes.
    assert.equal(await page.getByTestId('hints-pid-one').isVisible(), false);

    await page
      .getByTestId('lab-progress')
      .filter({ hasText: `All ${steps.length} steps done` })
      .waitFor();
    const [pollCheck, onceCheck] = [
      page.getByTestId('check-restart-nginx'),
      page.getByTestId('check-pid-one'),
    ];
    assert.equal((await pollCheck.textContent())?.trim(), 'Check until done');
    assert.equal(
      (await pollCheck.boundingBox())?.height,
      (await onceCheck.boundingBox())?.height,
      'the waiting Check button wraps',
    );

    // Doing the last but one step again undoes the last step too, and the redone step's result names it.
    await page.getByTestId('restart-restart-nginx').click();
    await page
      .getByTestId('result-restart-nginx')
      .filter({ hasText: 'Step 5, which builds on it, is to do again too.' })
      .waitFor();
    assert.equal(await page.getByTestId('result-web-server-type').textContent(), '');
    assert.doesNotMatch(
      (await page.getByTestId('step-web-server-type').getAttribute('class')) ?? '',
      /\bpassed\b/,
    );
    assert.equal(
      await page.getByTestId('lab-progress').textContent(),
      `3 of ${steps.length} steps done.`,
    );

    // A step's link scrolls its heading to just below the sticky terminal, not under it.
    await page.evaluate(() => (location.hash = '#step-fetch-page'));
    await page.waitForTimeout(500);
    const heading = await page.locator('#step-fetch-page').boundingBox();
    const terminals = await page.locator('.lab-terminals').boundingBox();
    assert.ok(heading, 'the heading has no box');
    assert.ok(terminals, 'the terminals have no box');
    assert.ok(
      heading.y >= terminals.y + terminals.height - 1,
      `heading at ${heading.y} is under the terminals ending at ${terminals.y + terminals.height}`,
    );
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('terminal stays in view on short and narrow screens', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/labs/${LAB}/`);
    await page.getByTestId('lab-start').click();
    await page
      .getByTestId('lab-status')
      .filter({ hasText: 'containers are running' })
      .waitFor({ timeout: 60_000 });

    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 1280, height: 900 },
      { width: 390, height: 844 },
    ]) {
      const size = `${viewport.width}x${viewport.height}`;
      await page.setViewportSize(viewport);
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      const run = page.getByTestId('step-web-server-type').locator('button.lab-run').last();
      await run.click();

      const header = await page.locator('header.header').boundingBox();
      const terminal = await page.locator('.lab-terminal:not([hidden])').boundingBox();
      assert.ok(header && terminal, `${size}: the header or the terminal has no box`);
      assert.ok(
        terminal.y >= header.y + header.height - 1,
        `${size}: after Run the terminal starts under the header, at ${terminal.y}`,
      );
      assert.ok(
        terminal.y + terminal.height <= viewport.height,
        `${size}: after Run the terminal ends below the screen, at ${terminal.y + terminal.height}`,
      );
      const sticky = await page.locator('.lab-terminals').boundingBox();
      assert.ok(sticky, `${size}: the sticky terminal area has no box`);
      assert.ok(
        sticky.height <= viewport.height / 2,
        `${size}: the terminal box takes ${sticky.height} of ${viewport.height} px`,
      );

      await page.evaluate(() => (location.hash = '#step-supervised'));
      await page.waitForTimeout(500);
      const heading = await page.locator('#step-supervised').boundingBox();
      const below = await page.locator('.lab-terminals').boundingBox();
      assert.ok(heading && below, `${size}: the heading or the terminals have no box`);
      assert.ok(
        heading.y >= below.y + below.height - 1,
        `${size}: heading at ${heading.y} is under the terminals ending at ${below.y + below.height}`,
      );
      await page.evaluate(() => (location.hash = ''));
    }

    // At phone width a command gets the whole width, its buttons below it.
    const command = await page.locator('.lab-command pre').first().boundingBox();
    assert.ok(command, 'the first command has no box');
    assert.ok(command.width > 300, `a command box is ${command.width} px wide at 390 px`);
    await page.getByTestId('lab-stop').click();
    await context.close();
  });

  test('reload keeps progress and session', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/labs/${LAB}/`);
    await page.getByTestId('lab-start').click();
    await page
      .getByTestId('lab-status')
      .filter({ hasText: 'containers are running' })
      .waitFor({ timeout: 60_000 });
    await completeStep(page, 'pid-one');
    const sessionsBefore = (await listManaged(instance)).containers
      .map((container) => container.Id)
      .sort();

    await page.reload();

    await page
      .getByTestId('lab-status')
      .filter({ hasText: 'containers are running' })
      .waitFor({ timeout: 20_000 });
    assert.match(
      (await page.getByTestId('step-pid-one').getAttribute('class')) ?? '',
      /\bpassed\b/,
    );
    assert.match(
      (await page.getByTestId('step-supervised').getAttribute('class')) ?? '',
      /\bcurrent\b/,
    );
    await page.getByTestId('restart-pid-one').click();
    await page.getByTestId('result-pid-one').filter({ hasText: 'It has no setup' }).waitFor();
    assert.doesNotMatch(
      (await page.getByTestId('step-pid-one').getAttribute('class')) ?? '',
      /\bpassed\b/,
    );
    await completeStep(page, 'pid-one');
    const sessionsAfter = (await listManaged(instance)).containers
      .map((container) => container.Id)
      .sort();
    assert.deepEqual(sessionsAfter, sessionsBefore);
    // The shell may be the one from before the reload, which prints its prompt again on Enter.
    await page.getByTestId('terminal-web').click();
    await page.keyboard.press('Enter');
    await page
      .getByTestId('terminal-web')
      .locator('.xterm-rows', { hasText: '$' })
      .waitFor({ timeout: 20_000 });

    const link = page.getByTestId('web-nginx');
    const href = await link.getAttribute('href');
    assert.match(href ?? '', /^\/api\/sessions\/[0-9a-f]{16}\/web\/nginx\/$/);
    const proxied = await page.request.get(`${server.url}${href}`);
    assert.equal(proxied.status(), 200);
    assert.match(await proxied.text(), /fpm-fcgi/);

    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByTestId('lab-reset').click();
    await page
      .getByTestId('lab-status')
      .filter({ hasText: 'containers are running' })
      .waitFor({ timeout: 60_000 });
    assert.doesNotMatch(
      (await page.getByTestId('step-pid-one').getAttribute('class')) ?? '',
      /\bpassed\b/,
    );
    const stale = await page.request.get(`${server.url}${href}`);
    assert.equal(stale.status(), 404);

    await page.getByTestId('lab-stop').click();
    await page.getByTestId('lab-status').filter({ hasText: 'stopped' }).waitFor();
    await context.close();
  });

  test('guide page loads no terminal code', async () => {
    const page = await browser.newPage();
    const scripts: string[] = [];
    page.on('response', (response) => {
      if (response.request().resourceType() === 'script') scripts.push(response.url());
    });

    await page.goto(`${server.url}/labs/${LAB}/`);
    await page.waitForLoadState('networkidle');

    const loadedXterm = await page.evaluate(() => document.querySelector('.xterm') !== null);
    assert.equal(loadedXterm, false);
    for (const url of scripts) {
      const body = await (await fetch(url)).text();
      assert.ok(!body.includes('xterm-helper-textarea'), `${url} contains xterm.js before Start`);
    }
    await page.close();
  });

  // Runs last: it stops the server that the tests above share.
  test('page ends when the server stops', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/labs/${LAB}/`);
    await page.getByTestId('lab-start').click();
    await page
      .getByTestId('lab-status')
      .filter({ hasText: 'containers are running' })
      .waitFor({ timeout: 60_000 });

    await server.kill('SIGTERM');

    await page
      .getByTestId('lab-status')
      .filter({ hasText: 'The lab server cannot be reached' })
      .waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId('lab-start').isVisible(), true);
    assert.equal(await page.getByTestId('lab-stop').isVisible(), false);
    await page.close();
  });
});

/** Presses every Run button of a step in order, then Check, and waits for it to pass. */
async function completeStep(page: Page, stepId: string): Promise<void> {
  const step = page.getByTestId(`step-${stepId}`);
  const result = page.getByTestId(`result-${stepId}`);
  const runs = step.locator('button.lab-run');

  const count = await runs.count();
  const waits = (await step.getAttribute('data-check-mode')) === 'poll';
  for (let index = 0; index < count; index += 1) {
    await runs.nth(index).click();
    // The last Run of a waiting step starts its check and shows that it did.
    if (waits && index === count - 1)
      await result.filter({ hasText: /its check started|Passed/ }).waitFor({ timeout: 5000 });
    // Give the shell time to run the command before the next one or the check.
    await page.waitForTimeout(1500);
  }

  const check = page.getByTestId(`check-${stepId}`);
  await check.and(page.locator(':enabled')).waitFor({ timeout: 40_000 });
  if (!/Passed/.test((await result.textContent()) ?? '')) await check.click();
  await result.filter({ hasText: 'Passed' }).waitFor({ timeout: 40_000 });
  assert.match(
    (await step.getAttribute('class')) ?? '',
    /\bpassed\b/,
    `step ${stepId} is not marked passed`,
  );
}
