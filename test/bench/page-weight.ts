// The JavaScript a page loads, measured in Chromium: on load, and for a lab page after Start.
import { launchBrowser } from '../helpers/browser.ts';

export interface PageWeight {
  path: string;
  afterStart: boolean;
  bytes: number;
  /** Whether any script loaded so far carries xterm.js. */
  terminalCode: boolean;
}

export async function measurePageScripts(baseUrl: string, paths: string[]): Promise<PageWeight[]> {
  const browser = await launchBrowser();
  const weights: PageWeight[] = [];

  try {
    for (const pagePath of paths) {
      const page = await browser.newPage();
      let bytes = 0;
      let terminalCode = false;
      page.on('response', async (response) => {
        if (response.request().resourceType() !== 'script') return;
        const body = await response.body().catch(() => Buffer.alloc(0));
        bytes += body.length;
        // xterm.js names its hidden input with this class; no other script of the site does.
        if (body.includes('xterm-helper-textarea')) terminalCode = true;
      });

      await page.goto(`${baseUrl}${pagePath}`);
      await page.waitForLoadState('networkidle');
      weights.push({ path: pagePath, afterStart: false, bytes, terminalCode });

      const start = page.getByTestId('lab-start');
      if ((await start.count()) > 0) {
        await start.click();
        await page.locator('.xterm').first().waitFor({ timeout: 30_000 });
        await page.waitForLoadState('networkidle');
        weights.push({ path: pagePath, afterStart: true, bytes, terminalCode });
        await page
          .getByTestId('lab-stop')
          .click()
          .catch(() => undefined);
      }
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return weights;
}
