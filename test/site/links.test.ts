// Every internal link, asset reference and #anchor in dist/ must resolve to a file and an
// element that exist. The test reads the files, so it needs no server and checks every page.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';

import { assertSiteBuilt, DIST, listPages, type SitePage } from './helpers/site.ts';

const REFERENCE = /\s(?:href|src)="([^"]*)"/g;
const ID = /\sid="([^"]*)"/g;

function decodeEntities(value: string): string {
  return value
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

function idsOf(html: string): Set<string> {
  return new Set([...html.matchAll(ID)].map((match) => decodeEntities(match[1])));
}

/** Internal references of a page, resolved to absolute URL paths with their fragments. */
function internalReferences(page: SitePage): URL[] {
  const base = new URL(page.urlPath, 'http://site.invalid');
  return [...page.html.matchAll(REFERENCE)]
    .map((match) => decodeEntities(match[1]))
    .filter((reference) => reference !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(reference))
    .map((reference) => new URL(reference, base));
}

/** Maps a URL path to the dist/ file it is served from, as the static server does. */
function fileFor(urlPath: string): string {
  const decoded = decodeURIComponent(urlPath);
  return path.join(DIST, decoded.endsWith('/') ? `${decoded}index.html` : decoded);
}

describe('internal links in dist', () => {
  let pages: SitePage[];
  let idsByPath: Map<string, Set<string>>;

  before(async () => {
    assertSiteBuilt();
    pages = await listPages();
    idsByPath = new Map(pages.map((page) => [page.urlPath, idsOf(page.html)]));
  });

  test('every page is found', () => {
    const paths = pages.map((page) => page.urlPath);

    assert.ok(paths.includes('/'), 'the home page is missing from dist/');
    assert.ok(paths.includes('/404.html'), 'the 404 page is missing from dist/');
    assert.ok(paths.length >= 10, `only ${paths.length} pages in dist/`);
  });

  test('links and assets resolve', () => {
    const broken: string[] = [];

    for (const page of pages) {
      for (const url of internalReferences(page)) {
        if (!existsSync(fileFor(url.pathname))) broken.push(`${page.urlPath} -> ${url.pathname}`);
      }
    }

    assert.deepEqual(broken, [], `links to files that do not exist:\n${broken.join('\n')}`);
  });

  test('anchors resolve', () => {
    const broken: string[] = [];

    for (const page of pages) {
      for (const url of internalReferences(page)) {
        const fragment = decodeURIComponent(url.hash.slice(1));
        if (fragment === '') continue;
        const targetIds = idsByPath.get(url.pathname);
        if (!targetIds?.has(fragment))
          broken.push(`${page.urlPath} -> ${url.pathname}#${fragment}`);
      }
    }

    assert.deepEqual(broken, [], `anchors with no matching id:\n${broken.join('\n')}`);
  });
});
