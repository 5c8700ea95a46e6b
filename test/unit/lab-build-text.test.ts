// How the Restart panel's layer list names the step that made each layer.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describeLayer } from '../../src/scripts/lab-build-text.ts';

test('layers read as Dockerfile lines', () => {
  assert.equal(describeLayer('/bin/sh -c #(nop)  ENV LAB_STAGE=pre'), 'ENV LAB_STAGE=pre');
  assert.equal(
    describeLayer('|2 DDEV_DATABASE=mariadb:11.8 uid=1000 /bin/bash -c apt-get install -y figlet'),
    'RUN apt-get install -y figlet',
  );
  assert.equal(describeLayer('/bin/sh -c echo hi > /tmp/x'), 'RUN echo hi > /tmp/x');
  assert.match(describeLayer(''), /^the base image's files/);
  assert.equal(
    describeLayer(
      `/bin/sh -c #(nop)  HEALTHCHECK &{["CMD" "/healthcheck.sh"] "5s" "5s" "30s" '\\x03'}`,
    ),
    'HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 CMD ["/healthcheck.sh"]',
  );
});
