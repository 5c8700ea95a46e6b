// The guide's SVG diagrams must be accessible and legible in both themes.
// Each is labelled by its title and description. Every label needs 4.5:1 contrast (WCAG AA for
// text) against the shape or page behind it, measured from computed styles in Chromium.
// Screenshots of each diagram in each theme go to test-results/site/ for a human look.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';

import { launchBrowser } from '../helpers/browser.ts';
import { startStaticServer, type StaticServer } from './helpers/static-server.ts';
import {
  assertSiteBuilt,
  DIST,
  gotoInTheme,
  listPages,
  openContext,
  ROOT,
  type Theme,
} from './helpers/site.ts';

const MIN_CONTRAST = 4.5;
const SCREENSHOTS = path.join(ROOT, 'test-results', 'site');
const DIAGRAM = 'figure.gd-figure svg';

interface LabelColours {
  diagram: string;
  text: string;
  foreground: string;
  background: string;
}

/** Runs in the page: each diagram label's fill, and the fill of what is painted behind it. */
function readLabelColours(selector: string): LabelColours[] {
  const opaque = (colour: string) => colour !== 'none' && !/rgba\(.*,\s*0\)$/.test(colour);

  const pageBackground = (element: Element): string => {
    for (let node: Element | null = element; node; node = node.parentElement) {
      const colour = getComputedStyle(node).backgroundColor;
      if (opaque(colour) && colour !== 'transparent') return colour;
    }
    return 'rgb(255, 255, 255)';
  };

  return [...document.querySelectorAll<SVGSVGElement>(selector)].flatMap((svg) => {
    const diagram = svg.getAttribute('aria-labelledby') ?? '?';
    const shapes = [
      ...svg.querySelectorAll<SVGGraphicsElement>('rect, circle, ellipse, polygon, path'),
    ];

    return [...svg.querySelectorAll<SVGTextElement>('text')].map((text) => {
      const box = text.getBoundingClientRect();
      const x = box.left + box.width / 2;
      const y = box.top + box.height / 2;
      const behind = shapes.filter((shape) => {
        const precedes = shape.compareDocumentPosition(text) & Node.DOCUMENT_POSITION_FOLLOWING;
        const area = shape.getBoundingClientRect();
        const covers = x >= area.left && x <= area.right && y >= area.top && y <= area.bottom;
        return precedes && covers && opaque(getComputedStyle(shape).fill);
      });
      const top = behind.at(-1);
      return {
        diagram,
        text: text.textContent?.trim() ?? '',
        foreground: getComputedStyle(text).fill,
        background: top ? getComputedStyle(top).fill : pageBackground(svg),
      };
    });
  });
}

function parseRgb(colour: string): [number, number, number] {
  const match = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(colour);
  assert.ok(match, `cannot read colour "${colour}"`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

function relativeLuminance(colour: string): number {
  const [r, g, b] = parseRgb(colour).map((channel) => {
    const value = channel / 255;
    return value <= 0.04045 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrastRatio(first: string, second: string): number {
  const [lighter, darker] = [relativeLuminance(first), relativeLuminance(second)].sort(
    (a, b) => b - a,
  );
  return (lighter + 0.05) / (darker + 0.05);
}

async function screenshotDiagrams(page: Page, urlPath: string, theme: Theme): Promise<void> {
  const name = urlPath.replace(/^\/|\/$/g, '').replace(/\//g, '-') || 'home';
  const figures = page.locator('figure.gd-figure');
  for (let index = 0; index < (await figures.count()); index++) {
    const file = path.join(SCREENSHOTS, `${name}-${index + 1}-${theme}.png`);
    await figures.nth(index).screenshot({ path: file });
  }
}

describe('diagrams', () => {
  let server: StaticServer;
  let browser: Browser;
  let diagramPages: string[];

  before(async () => {
    assertSiteBuilt();
    const pages = await listPages();
    diagramPages = pages
      .filter((page) => page.html.includes('gd-figure'))
      .map((page) => page.urlPath);
    server = await startStaticServer(DIST);
    browser = await launchBrowser();
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('contrast ratio of known colours', () => {
    assert.equal(contrastRatio('rgb(0, 0, 0)', 'rgb(255, 255, 255)'), 21);
    assert.equal(contrastRatio('rgb(119, 119, 119)', 'rgb(119, 119, 119)'), 1);
  });

  test('diagram pages are found', () => {
    assert.ok(diagramPages.includes('/architecture/overview/'), 'no diagram on the overview page');
    assert.ok(diagramPages.length >= 4, `only ${diagramPages.length} pages have diagrams`);
  });

  test('each diagram is labelled by its title and description', { timeout: 60_000 }, async () => {
    const { context } = await openContext(browser, server.url, 'dark');
    const page = await context.newPage();
    const problems: string[] = [];

    for (const urlPath of diagramPages) {
      await page.goto(`${server.url}${urlPath}`);
      const found = await page.$$eval(DIAGRAM, (svgs) =>
        svgs.map((svg) => {
          const ids = (svg.getAttribute('aria-labelledby') ?? '').split(/\s+/).filter(Boolean);
          const labels = ids.map((id) => svg.querySelector(`[id="${id}"]`));
          return {
            role: svg.getAttribute('role'),
            ids,
            labelTags: labels.map((label) => label?.tagName ?? 'missing'),
            labelTexts: labels.map((label) => label?.textContent?.trim() ?? ''),
          };
        }),
      );
      for (const svg of found) {
        const where = `${urlPath} [${svg.ids.join(' ')}]`;
        if (svg.role !== 'img') problems.push(`${where}: role is ${svg.role}, expected img`);
        if (svg.labelTags.join() !== 'title,desc')
          problems.push(`${where}: labelled by ${svg.labelTags.join(', ')}, expected title, desc`);
        if (svg.labelTexts.some((text) => text.length < 10))
          problems.push(`${where}: a title or description is nearly empty`);
      }
    }
    await context.close();

    assert.deepEqual(problems, [], problems.join('\n'));
  });

  const coloursByTheme = new Map<Theme, LabelColours[]>();

  for (const theme of ['dark', 'light'] as Theme[]) {
    test(`labels are legible, ${theme} theme`, { timeout: 60_000 }, async () => {
      const { context, blocked } = await openContext(browser, server.url, theme);
      const page = await context.newPage();
      const weak: string[] = [];
      const all: LabelColours[] = [];

      for (const urlPath of diagramPages) {
        await gotoInTheme(page, `${server.url}${urlPath}`, theme);
        const labels = await page.evaluate(readLabelColours, DIAGRAM);
        all.push(...labels);
        for (const label of labels) {
          const ratio = contrastRatio(label.foreground, label.background);
          if (ratio < MIN_CONTRAST) {
            weak.push(
              `${urlPath} "${label.text}": ${ratio.toFixed(2)}:1 (${label.foreground} on ${label.background})`,
            );
          }
        }
        await screenshotDiagrams(page, urlPath, theme);
      }
      await context.close();
      coloursByTheme.set(theme, all);

      assert.ok(all.length > 50, `only ${all.length} diagram labels found`);
      assert.deepEqual(blocked, [], `diagram pages requested other hosts:\n${blocked.join('\n')}`);
      assert.deepEqual(
        weak,
        [],
        `labels below ${MIN_CONTRAST}:1 in the ${theme} theme:\n${weak.join('\n')}`,
      );
    });
  }

  test('label colours follow the theme', () => {
    const dark = coloursByTheme.get('dark');
    const light = coloursByTheme.get('light');
    assert.ok(dark, 'the dark theme test did not run');
    assert.ok(light, 'the light theme test did not run');

    const unchanged = dark.filter((label, index) => label.foreground === light[index]?.foreground);

    assert.deepEqual(
      unchanged.map((label) => label.text),
      [],
      'labels with the same colour in both themes',
    );
  });
});
