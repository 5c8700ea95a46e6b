// The built site under test: where it is, its pages, and a browser page that may only talk to
// the test's own static server.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DIST = path.join(ROOT, 'dist');

export interface SitePage {
  /** The page's URL path, such as `/architecture/layers/`. */
  urlPath: string;
  file: string;
  html: string;
}

export function assertSiteBuilt(): void {
  assert.ok(
    existsSync(path.join(DIST, 'index.html')),
    `dist/index.html is missing: run \`npm run build\` before the site tests.`,
  );
}

async function listHtmlFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.html'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

function urlPathOf(file: string): string {
  const relative = path.relative(DIST, file).split(path.sep).join('/');
  if (relative === 'index.html') return '/';
  if (relative.endsWith('/index.html')) return `/${relative.slice(0, -'index.html'.length)}`;
  return `/${relative}`;
}

/** Lists every HTML page in dist/, sorted by URL path. */
export async function listPages(): Promise<SitePage[]> {
  const files = await listHtmlFiles(DIST);
  const pages = await Promise.all(
    files.map(async (file) => ({
      urlPath: urlPathOf(file),
      file,
      html: await readFile(file, 'utf8'),
    })),
  );
  return pages.sort((a, b) => a.urlPath.localeCompare(b.urlPath));
}

export type Theme = 'dark' | 'light';

/**
 * Opens a browser context in one Starlight theme. Requests to anything but `allowedOrigin` are
 * aborted and recorded, so a page that reaches out to the network fails its test instead.
 */
export async function openContext(
  browser: Browser,
  allowedOrigin: string,
  theme: Theme,
): Promise<{ context: BrowserContext; blocked: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const blocked: string[] = [];

  await context.addInitScript((chosen) => localStorage.setItem('starlight-theme', chosen), theme);
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${allowedOrigin}/`) || url.startsWith('data:')) return route.continue();
    blocked.push(url);
    return route.abort();
  });

  return { context, blocked };
}

/** Opens a page and waits until Starlight has applied the expected theme. */
export async function gotoInTheme(page: Page, url: string, theme: Theme): Promise<void> {
  await page.goto(url, { waitUntil: 'load' });
  const applied = await page.evaluate(() => document.documentElement.dataset.theme);
  assert.equal(applied, theme, `${url} rendered in the ${applied} theme, expected ${theme}`);
}
