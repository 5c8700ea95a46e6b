// ensureImages against a fake ImageEngine: build order, prerequisites and skipping.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ensureImages } from '../../lab-server/src/images/build.ts';
import type {
  BuildRequest,
  HistoryEntry,
  ImageEngine,
  ImageSummary,
} from '../../lab-server/src/sandbox/images.ts';

/** Creates an engine that records builds and keeps images in memory. */
function fakeEngine() {
  const images = new Map<string, ImageSummary>();
  const built: string[] = [];
  let counter = 0;

  const engine: ImageEngine = {
    ping: async () => {},
    inspect: async (tag) => images.get(tag),
    history: async (): Promise<HistoryEntry[]> => [
      { id: '<missing>', createdBy: '/bin/sh -c #(nop)  CMD ["bash"]', created: 0, sizeBytes: 0 },
    ],
    build: async (request: BuildRequest) => {
      request.context.resume();
      counter += 1;
      const id = `sha256:${counter}`;
      images.set(request.tag, {
        id,
        labels: request.labels,
        sizeBytes: 10,
        created: '2026-01-01T00:00:00Z',
      });
      built.push(request.tag);
      return id;
    },
    pruneDangling: async () => 0,
    ensureDebianSlim: async (release) => ({
      tag: `debian:${release}-slim`,
      id: 'sha256:debian',
      source: 'local',
    }),
  };

  return { engine, built, images };
}

let reportDir: string;

before(async () => {
  reportDir = await mkdtemp(join(tmpdir(), 'ddev-lab-build-'));
});

after(async () => {
  await rm(reportDir, { recursive: true, force: true });
});

test('ensureImages builds parents first', async () => {
  const { engine, built } = fakeEngine();

  await ensureImages({ names: ['webserver'], engine, reportPath: join(reportDir, 'a.json') });

  assert.deepEqual(built, [
    'ddev-lab/ddev-base:trixie',
    'ddev-lab/ddev-php-base:trixie',
    'ddev-lab/ddev-webserver:trixie',
  ]);
});

test('ensureImages skips unchanged images', async () => {
  const { engine, built } = fakeEngine();
  await ensureImages({ names: ['webserver'], engine, reportPath: join(reportDir, 'b.json') });
  built.length = 0;

  const report = await ensureImages({
    names: ['webserver'],
    engine,
    reportPath: join(reportDir, 'b.json'),
  });

  assert.deepEqual(built, []);
  assert.ok(report.run.results.every((result) => result.action === 'up-to-date'));
});

test('ensureImages rebuilds children of a new parent', async () => {
  const { engine, built } = fakeEngine();
  await ensureImages({ names: ['webserver'], engine, reportPath: join(reportDir, 'c.json') });
  built.length = 0;

  await ensureImages({
    names: ['base'],
    engine,
    force: true,
    reportPath: join(reportDir, 'c.json'),
  });
  await ensureImages({ names: ['webserver'], engine, reportPath: join(reportDir, 'c.json') });

  assert.deepEqual(built, [
    'ddev-lab/ddev-base:trixie',
    'ddev-lab/ddev-php-base:trixie',
    'ddev-lab/ddev-webserver:trixie',
  ]);
});

test('force rebuilds only requested images', async () => {
  const { engine, built } = fakeEngine();
  await ensureImages({ names: ['webserver'], engine, reportPath: join(reportDir, 'f.json') });
  built.length = 0;

  await ensureImages({
    names: ['webserver'],
    engine,
    force: true,
    reportPath: join(reportDir, 'f.json'),
  });

  assert.deepEqual(built, ['ddev-lab/ddev-webserver:trixie']);
});

test('ensureImages labels what it builds', async () => {
  const { engine, images } = fakeEngine();

  await ensureImages({ names: ['base'], engine, reportPath: join(reportDir, 'd.json') });
  const labels = images.get('ddev-lab/ddev-base:trixie')?.labels ?? {};

  assert.equal(labels['dev.ddevlab.managed'], 'true');
  assert.equal(labels['dev.ddevlab.kind'], 'image');
  assert.equal(labels['dev.ddevlab.image'], 'base');
  assert.match(labels['dev.ddevlab.source-hash'] ?? '', /^[0-9a-f]{64}$/);
});

test('ensureImages writes the layer report', async () => {
  const { engine } = fakeEngine();
  const path = join(reportDir, 'e.json');

  await ensureImages({ names: ['base'], engine, reportPath: path });
  const report = JSON.parse(await readFile(path, 'utf8'));

  assert.equal(report.images[0].tag, 'ddev-lab/ddev-base:trixie');
  assert.equal(report.images[0].layers[0].instruction, 'CMD ["bash"]');
  assert.equal(report.run.release, 'trixie');
});
