// The layer report reader must accept the report `npm run images` writes, tolerate the shapes it
// may take while it settles, and return the status "missing" rather than throw without a report.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { ddevSizeFor } from '../../src/components/guide/ddev-sizes.ts';
import {
  cleanInstruction,
  formatBytes,
  loadReport,
  parseReport,
} from '../../src/components/guide/layer-report.ts';

const webserverLayer = {
  instruction: 'RUN apt-get install -y nginx',
  createdBy: '|1 DEBIAN_RELEASE=trixie /bin/sh -c apt-get install -y nginx',
  sizeBytes: 52_000_000,
};

test('report as written by npm run images', () => {
  const report = {
    generatedAt: '2026-12-04T16:00:15.449Z',
    images: [
      {
        name: 'webserver',
        release: 'trixie',
        tag: 'ddev-lab/ddev-webserver:trixie',
        sizeBytes: 680_677_599,
        layers: [webserverLayer],
      },
    ],
  };

  const [image] = parseReport(report);

  assert.equal(image.name, 'webserver');
  assert.equal(image.release, 'trixie');
  assert.equal(image.tag, 'ddev-lab/ddev-webserver:trixie');
  assert.equal(image.sizeBytes, 680_677_599);
  assert.deepEqual(image.layers, [
    { sizeBytes: 52_000_000, createdBy: 'RUN apt-get install -y nginx' },
  ]);
});

test('report keyed by image name', () => {
  const report = {
    images: {
      router: {
        tag: 'ddev-lab/ddev-router:trixie',
        size: 90_000_000,
        layers: [{ CreatedBy: '/bin/sh -c #(nop)  CMD ["nginx"]', Size: 0 }],
      },
    },
  };

  const [image] = parseReport(report);

  assert.equal(image.name, 'router');
  assert.equal(image.sizeBytes, 90_000_000);
  assert.deepEqual(image.layers, [{ sizeBytes: 0, createdBy: 'CMD ["nginx"]' }]);
});

test('unreadable fields become unknown', () => {
  const images = parseReport({
    images: [{ layers: [null, { sizeBytes: 'big' }] }, 'not an image'],
  });

  assert.equal(images.length, 1);
  assert.equal(images[0].name, 'image 1');
  assert.equal(images[0].sizeBytes, undefined);
  assert.deepEqual(images[0].layers, [
    { sizeBytes: undefined, createdBy: 'unknown' },
    { sizeBytes: undefined, createdBy: 'unknown' },
  ]);
  assert.deepEqual(parseReport(42), []);
});

test('instruction prefixes are shortened', () => {
  assert.equal(cleanInstruction('/bin/sh -c #(nop)  EXPOSE 80'), 'EXPOSE 80');
  assert.equal(cleanInstruction('|2 A=1 B=2 /bin/sh -c make'), 'RUN make');
  assert.equal(cleanInstruction('/bin/sh -c apt-get update'), 'RUN apt-get update');
  assert.equal(cleanInstruction('COPY file:abc in /'), 'COPY file:abc in /');
});

test('sizes in decimal units', () => {
  assert.equal(formatBytes(undefined), 'unknown');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(8_898), '8.9 kB');
  assert.equal(formatBytes(105_459_285), '105.5 MB');
  assert.equal(formatBytes(1_620_000_000), '1.62 GB');
});

test('missing and invalid report files', async () => {
  const directory = await mkdtemp(path.join(tmpdir(), 'ddev-lab-report-'));
  const invalid = path.join(directory, 'invalid.json');
  await writeFile(invalid, '{ not json');

  try {
    assert.equal(loadReport(path.join(directory, 'absent.json')).status, 'missing');
    assert.equal(loadReport(invalid).status, 'invalid');
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

test('DDEV counterparts by image name', () => {
  assert.equal(ddevSizeFor('webserver').counterpart, 'ddev/ddev-webserver');
  assert.equal(ddevSizeFor('webserver-squashed').counterpart, 'ddev/ddev-webserver');
  assert.equal(ddevSizeFor('php-base').counterpart, 'ddev/ddev-php-base (v1.22 to v1.25.3)');
  assert.equal(ddevSizeFor('dbserver-mariadb').counterpart, 'ddev/ddev-dbserver-mariadb-<version>');
  assert.match(ddevSizeFor('dbserver-postgres').counterpart, /^postgres:/);
  assert.equal(ddevSizeFor('router').counterpart, 'ddev/ddev-traefik-router');
  assert.equal(ddevSizeFor('base').counterpart, 'debian:trixie-slim');
});
