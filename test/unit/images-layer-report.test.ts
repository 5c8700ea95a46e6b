// Turning `docker history` entries into Dockerfile instructions for the layer report.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { attributeLayers, instructionOf } from '../../lab-server/src/images/layer-report.ts';

test('instructionOf unwraps nop steps', () => {
  assert.equal(instructionOf('/bin/sh -c #(nop)  CMD ["/start.sh"]'), 'CMD ["/start.sh"]');
  assert.equal(instructionOf('/bin/sh -c #(nop) COPY dir:abc in / '), 'COPY dir:abc in /');
});

test('instructionOf marks shell steps as RUN', () => {
  assert.equal(
    instructionOf('/bin/sh -c set -eux; apt-get update'),
    'RUN set -eux; apt-get update',
  );
});

test('instructionOf drops build arguments', () => {
  const createdBy = '|2 BASE_IMAGE=ddev-lab/ddev-base:trixie PHP_VERSION=8.4 /bin/sh -c php -v';

  assert.equal(instructionOf(createdBy), 'RUN php -v');
});

test('instructionOf keeps imported layers', () => {
  assert.equal(instructionOf(''), '');
  assert.equal(instructionOf('debootstrap import'), 'debootstrap import');
});

test('attributeLayers follows parent ids', () => {
  const known = new Map([
    ['sha256:web', 'webserver'],
    ['sha256:php', 'php-base'],
    ['sha256:debian', 'debian-slim'],
  ]);
  const history = ['sha256:web', '<missing>', 'sha256:php', '<missing>', 'sha256:debian'];

  const makers = attributeLayers(history, 'webserver', known);

  assert.deepEqual(makers, ['webserver', 'webserver', 'php-base', 'php-base', 'debian-slim']);
});

test('attributeLayers keeps squashed layers own', () => {
  const makers = attributeLayers(['<missing>', '<missing>'], 'webserver-squashed', new Map());

  assert.deepEqual(makers, ['webserver-squashed', 'webserver-squashed']);
});
