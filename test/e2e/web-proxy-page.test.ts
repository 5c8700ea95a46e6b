// A lab's web page through the lab server's proxy, in Chromium: it renders with its styles,
// images and scripts, and it cannot register a service worker over the lab server's origin,
// even with a script that sends Service-Worker-Allowed: /.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';

import { launchBrowser } from '../helpers/browser.ts';
import { execIn, listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { LABELS } from '../../lab-server/src/sandbox/labels.ts';

const PROBE_PAGE = `<!doctype html>
<html><head><link rel="stylesheet" href="probe.css"></head>
<body><h1 id="title">probe</h1><img id="dot" src="dot.svg" alt="dot"><p id="result">waiting</p>
<script src="probe.js"></script></body></html>
`;
const PROBE_CSS = '#title { color: rgb(1, 2, 3); }\n';
const DOT_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>\n';
// Tries to put a service worker over the whole origin and shows what happened.
const PROBE_SCRIPT = `(async () => {
  let worker;
  try {
    await navigator.serviceWorker.register('sw.php', { scope: '/' });
    worker = 'registered';
  } catch (error) {
    worker = 'error:' + error.name;
  }
  document.getElementById('result').textContent = worker;
})();
`;
// A worker script that requests the whole origin as its scope, as a hostile page would.
const WORKER_SCRIPT = `<?php
header('Content-Type: text/javascript');
header('Service-Worker-Allowed: /');
echo "self.addEventListener('fetch', () => {});\\n";
`;

describe('lab web page in Chromium', () => {
  const instance = uniqueInstance('e2e-web');
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

  /** Starts a session from the browser context, so that it keeps the session's web cookie as a lab page does. */
  async function startSession(context: BrowserContext, labId: string): Promise<string> {
    const response = await context.request.post(`${server.url}/api/sessions`, { data: { labId } });
    assert.equal(response.status(), 201, await response.text());
    return ((await response.json()) as { sessionId: string }).sessionId;
  }

  async function serviceContainer(sessionId: string, service: string): Promise<string> {
    const { containers } = await listManaged(instance, sessionId);
    return containers.find((container) => container.Labels[LABELS.service] === service)!.Id;
  }

  test('proxied page renders without a worker', async () => {
    const context = await browser.newContext();
    const sessionId = await startSession(context, 'inside-the-web-container');
    const web = await serviceContainer(sessionId, 'web');
    const files: Record<string, string> = {
      'probe.html': PROBE_PAGE,
      'probe.css': PROBE_CSS,
      'dot.svg': DOT_SVG,
      'probe.js': PROBE_SCRIPT,
      'sw.php': WORKER_SCRIPT,
    };
    for (const [name, text] of Object.entries(files)) {
      const written = await execIn(
        web,
        `echo ${Buffer.from(text).toString('base64')} | base64 -d > /var/www/html/${name}`,
        'ddev',
      );
      assert.equal(written.exitCode, 0, written.output);
    }
    const page = await context.newPage();

    const php = await page.goto(`${server.url}/api/sessions/${sessionId}/web/nginx/`);
    assert.equal(php?.status(), 200);
    await page.getByText('PHP Version').first().waitFor();

    await page.goto(`${server.url}/api/sessions/${sessionId}/web/nginx/probe.html`);
    await page.locator('#result').filter({ hasNotText: 'waiting' }).waitFor();
    const worker = await page.locator('#result').textContent();
    const registrations = await page.evaluate(
      async () => (await navigator.serviceWorker.getRegistrations()).length,
    );
    const color = await page
      .locator('#title')
      .evaluate((element) => getComputedStyle(element).color);
    const dotWidth = await page
      .locator('#dot')
      .evaluate((element) => (element as HTMLImageElement).naturalWidth);

    assert.equal(color, 'rgb(1, 2, 3)');
    assert.equal(dotWidth, 8);
    assert.match(worker ?? '', /^error:/);
    assert.equal(registrations, 0);
    await context.close();
  });

  test('router page renders through the proxy', async () => {
    const context = await browser.newContext();
    const sessionId = await startSession(context, 'the-router');
    const page = await context.newPage();

    const reply = await page.goto(`${server.url}/api/sessions/${sessionId}/web/router/`);

    assert.ok(reply);
    assert.ok(reply.status() < 500, `status ${reply.status()}`);
    assert.ok(((await page.locator('body').textContent()) ?? '').trim().length > 0);
    await context.close();
  });
});
