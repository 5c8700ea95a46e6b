// Pagefind, as the site ships it, must find every indexed page by a word that is distinctive
// for that page: the word of six letters or more that the fewest other pages contain.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';

import { launchBrowser } from '../helpers/browser.ts';
import { startStaticServer, type StaticServer } from './helpers/static-server.ts';
import { assertSiteBuilt, DIST, listPages, openContext, type SitePage } from './helpers/site.ts';

const INDEXED_BODY = /<main[^>]*data-pagefind-body[^>]*>([\s\S]*?)<\/main>/;

/** Extracts the page's indexed text as lower-case words, without tags. */
function indexedWords(page: SitePage): string[] {
  const body = INDEXED_BODY.exec(page.html)?.[1] ?? '';
  const text = body
    .replace(/<(script|style|svg)[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&[a-z#0-9]+;/g, ' ');
  return text.toLowerCase().match(/\b[a-z]{6,}\b/g) ?? [];
}

/** Picks for each page the word that the fewest other pages contain, the longest on a tie. */
function distinctiveTerms(pages: SitePage[]): Map<string, string> {
  const wordsByPage = new Map(pages.map((page) => [page.urlPath, new Set(indexedWords(page))]));
  const pageCount = new Map<string, number>();
  for (const words of wordsByPage.values()) {
    for (const word of words) pageCount.set(word, (pageCount.get(word) ?? 0) + 1);
  }

  const terms = new Map<string, string>();
  for (const [urlPath, words] of wordsByPage) {
    const ranked = [...words].sort(
      (a, b) => pageCount.get(a)! - pageCount.get(b)! || b.length - a.length || a.localeCompare(b),
    );
    if (ranked.length > 0) terms.set(urlPath, ranked[0]);
  }
  return terms;
}

describe('Pagefind search', () => {
  let server: StaticServer;
  let browser: Browser;
  let pages: SitePage[];

  before(async () => {
    assertSiteBuilt();
    pages = await listPages();
    server = await startStaticServer(DIST);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('every page but 404 is indexed', () => {
    const unindexed = pages
      .filter((page) => page.urlPath !== '/404.html')
      .filter((page) => !INDEXED_BODY.test(page.html))
      .map((page) => page.urlPath);

    assert.deepEqual(unindexed, [], `pages outside the search index:\n${unindexed.join('\n')}`);
  });

  test('finds each page by its distinctive term', { timeout: 120_000 }, async () => {
    const terms = distinctiveTerms(pages.filter((page) => INDEXED_BODY.test(page.html)));
    const { context, blocked } = await openContext(browser, server.url, 'dark');
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    const missed: string[] = [];

    for (const [urlPath, term] of terms) {
      const found = await page.evaluate(async (query) => {
        // A variable keeps TypeScript from resolving the URL, which exists only in the browser.
        const pagefindUrl = '/pagefind/pagefind.js';
        const pagefind = await import(pagefindUrl);
        const search = await pagefind.search(query);
        const results = await Promise.all(search.results.map((result: any) => result.data()));
        return results.map((data: { url: string }) => data.url);
      }, term);
      if (!found.includes(urlPath))
        missed.push(`${urlPath}: "${term}" found ${found.join(', ') || 'nothing'}`);
    }
    await context.close();

    assert.ok(terms.size >= 10, `only ${terms.size} pages have search terms`);
    assert.deepEqual(blocked, [], `search requested other hosts:\n${blocked.join('\n')}`);
    assert.deepEqual(missed, [], `pages not found by their term:\n${missed.join('\n')}`);
  });
});
