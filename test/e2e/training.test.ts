// A training in Chromium: one instructor and three learners in separate browser contexts. The
// learners join with the code and complete a step; the instructor's dashboard follows them live,
// adds time to one session and resets another; the lab server is killed and started again on
// the same database, and the training, the progress and the very same containers come back;
// /metrics moves along the way. The dashboard fits a 390 px wide screen, and a learner who
// closes the tab shows as not connected.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import { launchBrowser } from '../helpers/browser.ts';
import { listManaged, removeInstance } from '../helpers/docker.ts';
import { ROOT, startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';

const LAB = 'inside-the-web-container';
const TOKEN = 'e2e-instructor-token-0123456789';
const NAMES = ['Ada', 'Grace', 'Linus'];

describe('training in Chromium', () => {
  const instance = uniqueInstance('e2e-training');
  let folder: string;
  let env: Record<string, string>;
  let server: RunningServer;
  let browser: Browser;

  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'ddev-lab-training-'));
    // A fixed port, so the pages reach the restarted server where they left the first one.
    env = {
      LAB_HOST: '0.0.0.0',
      // The test engine's runc may lack fixes for image-crafting escapes and its storage may have no
      // quotas; room mode would refuse both.
      LAB_RUNC_POLICY: 'learner',
      LAB_DISK_POLICY: 'measured',
      LAB_PORT: String(await freePort()),
      LAB_DATABASE: path.join(folder, 'state.sqlite'),
      LAB_INSTRUCTOR_TOKEN: TOKEN,
      LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '100',
    };
    server = await startLabServer({ instance, env });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.kill('SIGTERM');
    await removeInstance(instance);
    await rm(folder, { recursive: true, force: true });
  });

  test('room follows learners across a restart', async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(
      server.output(),
      /Instructor dashboard: http:\/\/127\.0\.0\.1:\d+\/training\/instructor\//,
    );
    const before = await metrics(server.url);

    const instructor = await newPage(browser);
    const code = await createTraining(instructor, server.url);
    const learners: Page[] = [];
    for (const name of NAMES) learners.push(await joinAndStart(browser, server.url, code, name));
    await Promise.all(learners.map((page) => completeStep(page, 'pid-one')));

    const rows = instructor.getByTestId('roster-row');
    for (const name of NAMES) {
      await rowOf(instructor, name)
        .getByTestId('cell-passed')
        .filter({ hasText: /^1 of \d+$/ })
        .waitFor({ timeout: 20_000 });
      await rowOf(instructor, name)
        .getByTestId('cell-connected')
        .filter({ hasText: 'yes' })
        .waitFor();
    }
    assert.equal(await rows.count(), 3);
    assert.match(
      (await rowOf(instructor, 'Ada').getByTestId('cell-step').textContent()) ?? '',
      /^2 of \d+: /,
    );
    assert.equal(await instructor.getByTestId('roster-empty').isVisible(), false);
    await assertActionsApart(instructor, 'Ada');

    // On a phone-sized screen the page does not scroll sideways and the actions are in reach.
    await instructor.setViewportSize({ width: 390, height: 844 });
    assert.equal(await horizontalOverflow(instructor), 0);
    const extend = rowOf(instructor, 'Ada').getByTestId('action-extend');
    const box = (await extend.boundingBox())!;
    assert.ok(box.x >= 0, `Add time starts left of the screen, at x=${box.x}`);
    assert.ok(
      box.x + box.width <= 390,
      `Add time ends right of the screen, at x=${box.x + box.width}`,
    );

    const leftBefore = await minutesLeft(instructor, 'Ada');
    await extend.click();
    await waitUntil(
      async () => (await minutesLeft(instructor, 'Ada')) > leftBefore + 10,
      'Ada has more time on the dashboard',
    );
    assert.match(
      (await instructor.getByTestId('instructor-status').textContent()) ?? '',
      /^Ada's lab session now ends at /,
    );
    await instructor.setViewportSize({ width: 1280, height: 900 });

    instructor.once('dialog', (dialog) => void dialog.accept());
    await rowOf(instructor, 'Grace').getByTestId('action-reset').click();
    await rowOf(instructor, 'Grace')
      .getByTestId('cell-passed')
      .filter({ hasText: /^0 of \d+$/ })
      .waitFor({ timeout: 60_000 });
    await learners[1]!
      .getByTestId('lab-status')
      .filter({ hasText: 'containers are running' })
      .waitFor({ timeout: 60_000 });

    const during = await metrics(server.url);
    assert.equal(during.value('ddevlab_sessions_active'), 3);
    assert.ok(
      during.sum('ddevlab_checks_total', 'result="passed"') >=
        before.sum('ddevlab_checks_total', 'result="passed"') + 3,
    );
    assert.equal(
      during.sum('ddevlab_sessions_started_total') - before.sum('ddevlab_sessions_started_total'),
      4,
    );
    assert.equal(during.sum('ddevlab_sessions_ended_total', 'reason="reset"'), 1);
    assert.ok(during.value('ddevlab_time_to_terminal_seconds_count') >= 3);
    assert.ok(during.sum('ddevlab_cleanup_removals_total', 'cause="session"') >= 3);
    assert.equal(during.value('ddevlab_training_learners'), 3);

    // The pool's spare sandboxes go with the server; the learners' sandboxes stay.
    const containersBefore = await learnerContainers(server.url, instance);
    assert.equal(containersBefore.length, 6);
    await server.kill('SIGKILL');
    server = await startLabServer({ instance, env });

    assert.deepEqual(await learnerContainers(server.url, instance), containersBefore);
    const adopted = await metrics(server.url);
    assert.equal(adopted.value('ddevlab_sessions_active'), 3);
    assert.equal(adopted.sum('ddevlab_sessions_started_total', 'how="adopted"'), 3);
    await rowOf(instructor, 'Ada')
      .getByTestId('cell-passed')
      .filter({ hasText: /^1 of \d+$/ })
      .waitFor({ timeout: 20_000 });
    await rowOf(instructor, 'Grace')
      .getByTestId('cell-passed')
      .filter({ hasText: /^0 of \d+$/ })
      .waitFor();

    // Ada's page still holds the token from before the restart; the restarted server takes it.
    await completeStep(learners[0]!, 'supervised');
    await rowOf(instructor, 'Ada')
      .getByTestId('cell-passed')
      .filter({ hasText: /^2 of \d+$/ })
      .waitFor({ timeout: 20_000 });
    await rowOf(instructor, 'Ada')
      .getByTestId('cell-connected')
      .filter({ hasText: 'yes' })
      .waitFor({ timeout: 20_000 });
    const after = await metrics(server.url);
    assert.ok(after.sum('ddevlab_checks_total', 'result="passed"') >= 1);
    assert.equal(after.value('ddevlab_sessions_active'), 3);

    // A closed tab closes its terminal sockets, and the dashboard shows that without waiting for
    // the heartbeat window (75 s) to pass.
    await rowOf(instructor, 'Linus')
      .getByTestId('cell-connected')
      .filter({ hasText: 'yes' })
      .waitFor({ timeout: 20_000 });
    await learners[2]!.context().close();
    await rowOf(instructor, 'Linus')
      .getByTestId('cell-connected')
      .filter({ hasText: 'no' })
      .waitFor({ timeout: 20_000 });
  });
});

async function newPage(browser: Browser): Promise<Page> {
  const context: BrowserContext = await browser.newContext({
    viewport: { width: 1280, height: 900 },
  });
  return context.newPage();
}

/** Opens the dashboard with the token and creates a training of one lab; returns its code. */
async function createTraining(page: Page, url: string): Promise<string> {
  await page.goto(`${url}/training/instructor/`);
  await page.getByTestId('instructor-token').fill(TOKEN);
  await page.getByTestId('instructor-open').click();
  await page.getByTestId('training-create').locator('summary').click();
  await page.getByTestId('training-name').fill('Contributor day');

  // The labs are listed as the guide's sidebar orders them, with only the first ticked.
  const boxes = page.locator('[data-testid^="training-lab-"]');
  const listed = await boxes.evaluateAll((inputs) =>
    inputs.map((input) => (input as HTMLInputElement).value),
  );
  assert.deepEqual(listed, await guideLabOrder());
  const ticked = await boxes.evaluateAll((inputs) =>
    inputs
      .filter((input) => (input as HTMLInputElement).checked)
      .map((input) => (input as HTMLInputElement).value),
  );
  assert.deepEqual(ticked, [listed[0]]);

  for (const box of await page.locator('[data-testid^="training-lab-"]').all()) {
    await box.setChecked((await box.getAttribute('data-testid')) === `training-lab-${LAB}`);
  }
  await page.getByTestId('training-learners').fill('3');
  await page.getByTestId('training-submit').click();

  const code = page.getByTestId('training-code');
  await code.filter({ hasText: /^[A-Z0-9]{3}-[A-Z0-9]{3}$/ }).waitFor();
  const codeText = (await code.textContent())!;

  // Before anyone joins: the code and the link are separate elements, and the roster is empty.
  const links = await page.getByTestId('training-links').locator('li > a').allTextContents();
  assert.ok(links.length > 0);
  for (const link of links)
    assert.match(link, /^http:\/\/\S+\/training\/join\/\?code=[A-Z0-9]{6}$/);
  const empty = page.getByTestId('roster-empty');
  await empty
    .filter({ hasText: `No learners have joined yet. They join with the code ${codeText}` })
    .waitFor();
  assert.equal(await page.getByTestId('roster-table').isVisible(), false);
  const headers = await page.locator('.instructor-roster th').allTextContents();
  assert.ok(headers.includes('Step in current lab'));
  assert.ok(headers.includes('Steps passed in all labs'));
  return codeText;
}

/** Lab ids in the order of the guide's Labs sidebar: each page's `sidebar.order`, then file name. */
async function guideLabOrder(): Promise<string[]> {
  const folder = path.join(ROOT, 'content/docs/labs');
  const pages = [];
  for (const name of (await readdir(folder)).filter((file) => file.endsWith('.mdx')).sort()) {
    const text = await readFile(path.join(folder, name), 'utf8');
    const order = Number(/^\s+order:\s*(\d+)/m.exec(text)?.[1] ?? 1000);
    const labId = /<Lab\s+id="([^"]+)"/.exec(text)?.[1];
    if (labId) pages.push({ labId, order });
  }
  return pages.sort((a, b) => a.order - b.order).map((page) => page.labId);
}

/** Width by which the page is wider than the window; 0 when nothing scrolls sideways. */
function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
}

/** Checks that no two action buttons of a learner's row touch or overlap. */
async function assertActionsApart(page: Page, name: string): Promise<void> {
  const boxes = await rowOf(page, name)
    .locator('.instructor-actions button')
    .evaluateAll((buttons) =>
      buttons.map((button) => {
        const rect = button.getBoundingClientRect();
        return { left: rect.left, right: rect.right, top: rect.top, bottom: rect.bottom };
      }),
    );
  assert.ok(boxes.length >= 3);
  for (const [index, a] of boxes.entries()) {
    for (const b of boxes.slice(index + 1)) {
      const apartSideways = a.right < b.left || b.right < a.left;
      const apartVertically = a.bottom < b.top || b.bottom < a.top;
      assert.ok(apartSideways || apartVertically, `actions touch: ${JSON.stringify([a, b])}`);
    }
  }
}

/** Joins with the code from a join link, opens the training's first lab and presses Start. */
async function joinAndStart(
  browser: Browser,
  url: string,
  code: string,
  name: string,
): Promise<Page> {
  const page = await newPage(browser);
  await page.goto(`${url}/training/join/?code=${code.replace('-', '')}`);
  await page.getByTestId('join-name').fill(name);
  await page.getByTestId('join-submit').click();
  await page.getByTestId(`join-lab-${LAB}`).click();

  await page.getByTestId('lab-start').click();
  await page
    .getByTestId('lab-status')
    .filter({ hasText: 'containers are running' })
    .waitFor({ timeout: 90_000 });
  return page;
}

/** Presses every Run button of a step in order, then Check, and waits for it to pass. */
async function completeStep(page: Page, stepId: string): Promise<void> {
  const step = page.getByTestId(`step-${stepId}`);
  const runs = step.locator('button.lab-run');
  await page
    .getByTestId('terminal-web')
    .locator('.xterm-rows', { hasText: '$' })
    .waitFor({ timeout: 30_000 });
  for (let index = 0; index < (await runs.count()); index += 1) {
    await runs.nth(index).click();
    await page.waitForTimeout(1500);
  }

  const check = page.getByTestId(`check-${stepId}`);
  await check.and(page.locator(':enabled')).waitFor({ timeout: 40_000 });
  await check.click();
  await page
    .getByTestId(`result-${stepId}`)
    .filter({ hasText: 'Passed' })
    .waitFor({ timeout: 40_000 });
}

/** Ids of the containers of the learners' sessions, as the instructor API lists them. */
async function learnerContainers(url: string, instance: string): Promise<string[]> {
  const headers = { authorization: `Bearer ${TOKEN}` };
  const [training] = (await (
    await fetch(`${url}/api/instructor/trainings`, { headers })
  ).json()) as { id: string }[];
  const roster = (await (
    await fetch(`${url}/api/instructor/trainings/${training!.id}`, { headers })
  ).json()) as { learners: { session: { id: string } | null }[] };
  const ids: string[] = [];
  for (const learner of roster.learners) {
    assert.ok(learner.session, 'a learner has no session');
    ids.push(
      ...(await listManaged(instance, learner.session.id)).containers.map(
        (container) => container.Id,
      ),
    );
  }
  return ids.sort();
}

function rowOf(page: Page, name: string) {
  return page.locator(`[data-testid="roster-row"][data-name="${name}"]`);
}

async function minutesLeft(page: Page, name: string): Promise<number> {
  const text = (await rowOf(page, name).getByTestId('cell-left').textContent()) ?? '';
  const match = /^(\d+):(\d\d)$/.exec(text);
  assert.ok(match, `time left of ${name} reads "${text}"`);
  return Number(match[1]) + Number(match[2]) / 60;
}

async function waitUntil(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.fail(`not within ${timeoutMs} ms: ${what}`);
}

/** Scrapes /metrics with the instructor token; sums samples by name and a label filter. */
async function metrics(url: string) {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(response.status, 200);
  const samples = (await response.text())
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)!;
      return { name: match[1]!, labels: match[2] ?? '', value: Number(match[3]) };
    });
  const sum = (name: string, label = '') =>
    samples
      .filter((sample) => sample.name === name && sample.labels.includes(label))
      .reduce((total, sample) => total + sample.value, 0);
  return { sum, value: (name: string) => sum(name) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
