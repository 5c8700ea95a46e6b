// Command-line parsing of `npm run images`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UsageError, parseCli } from '../../lab-server/src/images/cli.ts';

test('parseCli defaults to every image', () => {
  assert.deepEqual(parseCli([]), { names: undefined, release: 'trixie', force: false });
});

test('parseCli reads release, force and names', () => {
  const request = parseCli(['--release', 'bookworm', '--force', 'webserver']);

  assert.deepEqual(request, { names: ['webserver'], release: 'bookworm', force: true });
});

test('parseCli rejects MySQL with the reason', () => {
  assert.throws(
    () => parseCli(['dbserver-mysql']),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /Debian does not package MySQL/);
      return true;
    },
  );
});

test('parseCli rejects unknown names', () => {
  assert.throws(() => parseCli(['nginx']), /Unknown image "nginx"\. Known images: base/);
});

test('parseCli rejects unknown releases', () => {
  assert.throws(() => parseCli(['--release', 'bullseye']), /--release bullseye is not supported/);
});
