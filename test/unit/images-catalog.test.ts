// The image catalogue: tags, release arguments and dependency order.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  IMAGE_NAMES,
  IMAGE_SPECS,
  buildArgs,
  imageTag,
  isImageName,
  parentTag,
  withPrerequisites,
} from '../../lab-server/src/images/catalog.ts';

test('imageTag defaults to trixie', () => {
  assert.equal(imageTag('webserver'), 'ddev-lab/ddev-webserver:trixie');
  assert.equal(imageTag('php-base', 'bookworm'), 'ddev-lab/ddev-php-base:bookworm');
});

test('dbserver tags name the version', () => {
  assert.equal(imageTag('dbserver-mariadb'), 'ddev-lab/ddev-dbserver-mariadb-11.8:trixie');
  assert.equal(
    imageTag('dbserver-mariadb', 'bookworm'),
    'ddev-lab/ddev-dbserver-mariadb-10.11:bookworm',
  );
  assert.equal(imageTag('dbserver-postgres'), 'ddev-lab/ddev-dbserver-postgres-17:trixie');
  assert.equal(
    imageTag('dbserver-postgres', 'bookworm'),
    'ddev-lab/ddev-dbserver-postgres-15:bookworm',
  );
});

test('base starts from Debian slim', () => {
  assert.equal(parentTag('base'), 'debian:trixie-slim');
  assert.equal(parentTag('base', 'bookworm'), 'debian:bookworm-slim');
  assert.equal(parentTag('webserver', 'bookworm'), 'ddev-lab/ddev-php-base:bookworm');
});

test('buildArgs follow the release', () => {
  assert.equal(buildArgs('php-base', 'trixie').PHP_VERSION, '8.4');
  assert.equal(buildArgs('php-base', 'bookworm').PHP_VERSION, '8.2');
  assert.equal(buildArgs('base', 'bookworm').DEBIAN_RELEASE, 'bookworm');
  assert.equal(buildArgs('php-base', 'trixie').BASE_IMAGE, 'ddev-lab/ddev-base:trixie');
});

test('withPrerequisites adds parents in order', () => {
  assert.deepEqual(withPrerequisites(['webserver']), ['base', 'php-base', 'webserver']);
  assert.deepEqual(withPrerequisites(['webserver', 'base']), ['base', 'php-base', 'webserver']);
  assert.deepEqual(withPrerequisites(['base']), ['base']);
  assert.deepEqual(withPrerequisites(['dbserver-postgres']), ['base', 'dbserver-postgres']);
});

test('IMAGE_NAMES lists parents first', () => {
  for (const [index, name] of IMAGE_NAMES.entries()) {
    const parent = IMAGE_SPECS[name].parent;
    if (parent === 'debian') continue;
    assert.ok(IMAGE_NAMES.indexOf(parent) < index, `${name} is listed before its parent ${parent}`);
  }
});

test('isImageName rejects unknown names', () => {
  assert.equal(isImageName('webserver'), true);
  assert.equal(isImageName('mysql'), false);
  assert.equal(isImageName(''), false);
});
