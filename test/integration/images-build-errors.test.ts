// Build failures on the real Docker Engine: the error names the image and the failing step.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pack } from 'tar-fs';

import { ImageBuildError } from '../../lab-server/src/errors.ts';
import { openImageEngine } from '../../lab-server/src/sandbox/images.ts';
import { managedLabels } from '../../lab-server/src/sandbox/labels.ts';

let contextDir: string;

before(async () => {
  contextDir = await mkdtemp(join(tmpdir(), 'ddev-lab-broken-'));
  await writeFile(
    join(contextDir, 'Dockerfile'),
    'FROM debian:trixie-slim\nRUN echo broken step && exit 3\n',
  );
});

after(async () => {
  await rm(contextDir, { recursive: true, force: true });
});

test('failing RUN raises ImageBuildError', async () => {
  const engine = openImageEngine();
  const context = Readable.from(pack(contextDir));
  const lines: string[] = [];

  const build = engine.build({
    tag: 'ddev-lab/build-error-probe:test',
    context,
    buildArgs: {},
    labels: managedLabels({ kind: 'image' }),
    noCache: true,
    onLine: (line) => lines.push(line),
  });

  await assert.rejects(build, (error: unknown) => {
    assert.ok(error instanceof ImageBuildError);
    assert.match(error.message, /ddev-lab\/build-error-probe:test/);
    assert.match(error.message, /non-zero code: 3/);
    return true;
  });
  assert.ok(
    lines.some((line) => line.includes('broken step')),
    'build output reached onLine',
  );
  assert.equal(await engine.inspect('ddev-lab/build-error-probe:test'), undefined);
});
