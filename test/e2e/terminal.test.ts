// The lab terminal in Chromium. A socket dropped in the middle of a command reconnects and the
// output completes. The shell's size follows browser zoom. A UTF-8 character split across two
// reads shows whole. A paste of several lines needs confirmation and keeps its bracketed-paste
// markers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';

import { launchBrowser } from '../helpers/browser.ts';
import { removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';

declare global {
  interface Window {
    labSockets: WebSocket[];
    connectionStates: string[];
  }
}

/** Records every WebSocket the page opens and every connection state its terminals show. */
function recordSockets(): void {
  const NativeWebSocket = window.WebSocket;
  window.labSockets = [];
  window.connectionStates = [];
  window.WebSocket = class extends NativeWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      window.labSockets.push(this);
    }
  };
  new MutationObserver((records) => {
    for (const record of records)
      window.connectionStates.push((record.target as HTMLElement).dataset.connection ?? '');
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-connection'] });
}

async function startLab(page: Page, server: RunningServer): Promise<Locator> {
  await page.addInitScript(recordSockets);
  await page.goto(`${server.url}/labs/inside-the-web-container/`);
  await page.getByTestId('lab-start').click();

  const terminal = page.getByTestId('terminal-web');
  await terminal.locator('.xterm-rows', { hasText: '$' }).waitFor({ timeout: 20_000 });
  await terminal.locator('.xterm-screen').click();
  return terminal;
}

function row(terminal: Locator, pattern: RegExp): Locator {
  return terminal.locator('.xterm-rows > div', { hasText: pattern });
}

describe('terminal in Chromium', () => {
  const instance = uniqueInstance('e2e-terminal');
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

  test('dropped socket resumes the command', async () => {
    // A tall screen gets the tall terminal, whose rows show every line of the command's output.
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const terminal = await startLab(page, server);

    await page.keyboard.type(
      'for i in $(seq 1 8); do echo tick-$i; sleep 0.4; done; echo done-$((40+2))',
    );
    await page.keyboard.press('Enter');
    await row(terminal, /^tick-2\s*$/).waitFor({ timeout: 10_000 });
    await page.evaluate(() =>
      window.labSockets.findLast((socket) => socket.url.includes('/terminals/web?'))!.close(),
    );
    await row(terminal, /^done-42\s*$/).waitFor({ timeout: 20_000 });

    const states = await page.evaluate(() => window.connectionStates);
    const socketUrls = await page.evaluate(() =>
      window.labSockets
        .map((socket) => socket.url)
        .filter((url) => url.includes('/terminals/web?')),
    );
    assert.ok(states.includes('reconnecting'), states.join(' '));
    assert.equal(await terminal.getAttribute('data-connection'), 'open');
    assert.equal(socketUrls.length, 2, socketUrls.join('\n'));
    assert.match(socketUrls[1]!, /[?&]shell=[\w-]+&offset=[1-9]\d*/);
    for (let i = 1; i <= 8; i += 1) {
      assert.equal(await row(terminal, new RegExp(`^tick-${i}\\s*$`)).count(), 1, `tick-${i} once`);
    }
    assert.equal(await terminal.locator('.lab-terminal-banner').isVisible(), false);
    assert.deepEqual(errors, []);
  });

  test('zoom keeps the shell size right', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const terminal = await startLab(page, server);
    const columns: number[] = [];

    // Browser zoom shrinks or grows the viewport in CSS pixels, which is what this emulates.
    for (const [index, zoom] of [0.9, 1, 1.1, 1.25].entries()) {
      await page.setViewportSize({
        width: Math.round(1280 / zoom),
        height: Math.round(900 / zoom),
      });
      await page.waitForTimeout(300);
      await page.keyboard.type(`echo size-${index} $(stty size)`);
      await page.keyboard.press('Enter');
      const text = await row(terminal, new RegExp(`^size-${index} \\d+ \\d+\\s*$`)).textContent();
      const [, rows, cols] = /^size-\d+ (\d+) (\d+)/.exec(text!)!;
      const rowsShown = await terminal.locator('.xterm-rows > div').count();
      const fits = await terminal.evaluate((element) => {
        const screen = element.querySelector('.xterm-screen')!.getBoundingClientRect();
        const box = element.querySelector('.lab-terminal-screen')!.getBoundingClientRect();
        return screen.width <= box.width + 0.5 && screen.height <= box.height + 0.5;
      });

      assert.equal(Number(rows), rowsShown, `rows at zoom ${zoom}`);
      assert.equal(fits, true, `terminal fits its box at zoom ${zoom}`);
      columns.push(Number(cols));
    }

    assert.ok(columns[0]! > columns[3]!, `columns by zoom: ${columns.join(', ')}`);
  });

  test('utf-8 split across reads', async () => {
    const page = await browser.newPage();
    const terminal = await startLab(page, server);

    await page.keyboard.type("printf '\\xe2\\x82'; sleep 0.6; printf '\\xac-euro\\n'");
    await page.keyboard.press('Enter');

    await row(terminal, /^€-euro\s*$/).waitFor({ timeout: 10_000 });
  });

  test('multi-line paste needs confirmation', async () => {
    const page = await browser.newPage();
    const terminal = await startLab(page, server);
    const paste = (text: string) =>
      page.evaluate((data) => {
        const transfer = new DataTransfer();
        transfer.setData('text/plain', data);
        const target = document.querySelector(
          '[data-testid="terminal-web"] .xterm-helper-textarea',
        )!;
        target.dispatchEvent(
          new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }),
        );
      }, text);
    const question = terminal.locator('.lab-terminal-paste');

    await paste('echo cancelled-$((1+1))\necho cancelled-$((2+2))\n');
    await question.getByRole('button', { name: 'Cancel' }).click();
    await paste('echo one-$((0+1))\necho two-$((1+1))\n');
    const questionText = await question.textContent();
    await question.getByRole('button', { name: 'Paste' }).click();
    await page.waitForTimeout(700);
    const runBeforeEnter = await row(terminal, /^one-1\s*$/).count();
    await page.keyboard.press('Enter');
    await row(terminal, /^two-2\s*$/).waitFor({ timeout: 10_000 });

    assert.match(questionText ?? '', /Paste 2 lines\?/);
    // Bracketed paste: bash keeps the pasted lines on the command line until Enter instead of running each one.
    assert.equal(runBeforeEnter, 0);
    assert.equal(await row(terminal, /^one-1\s*$/).count(), 1);
    assert.equal(await terminal.locator('.xterm-rows', { hasText: 'cancelled' }).count(), 0);
  });
});
