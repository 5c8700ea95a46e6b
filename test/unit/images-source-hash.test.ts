// The source hash that decides whether an image is rebuilt.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { listFiles, sourceHash } from '../../lab-server/src/images/source-hash.ts';

let folder: string;

before(async () => {
  folder = await mkdtemp(join(tmpdir(), 'ddev-lab-hash-'));
  await mkdir(join(folder, 'files/etc'), { recursive: true });
  await writeFile(join(folder, 'Dockerfile'), 'FROM scratch\n');
  await writeFile(join(folder, 'files/etc/app.conf'), 'a=1\n');
});

after(async () => {
  await rm(folder, { recursive: true, force: true });
});

const input = () => ({ folder, buildArgs: { PHP_VERSION: '8.4' }, parentId: 'sha256:1' });

test('sourceHash is stable', async () => {
  assert.equal(await sourceHash(input()), await sourceHash(input()));
});

test('sourceHash follows parent and arguments', async () => {
  const original = await sourceHash(input());

  assert.notEqual(await sourceHash({ ...input(), parentId: 'sha256:2' }), original);
  assert.notEqual(await sourceHash({ ...input(), buildArgs: { PHP_VERSION: '8.2' } }), original);
});

test('sourceHash follows file content and mode', async () => {
  const original = await sourceHash(input());

  await writeFile(join(folder, 'files/etc/app.conf'), 'a=2\n');
  const edited = await sourceHash(input());
  await chmod(join(folder, 'files/etc/app.conf'), 0o755);
  const executable = await sourceHash(input());

  assert.notEqual(edited, original);
  assert.notEqual(executable, edited);
});

test('listFiles returns sorted relative paths', async () => {
  assert.deepEqual(await listFiles(folder), ['Dockerfile', 'files/etc/app.conf']);
});
