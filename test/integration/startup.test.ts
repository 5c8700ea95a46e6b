// What `npm start` does before it listens: a clear message without a Docker Engine, and reuse
// of the images and the site that an earlier start built.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';

import { removeInstance } from '../helpers/docker.ts';
import { ROOT, startLabServer, uniqueInstance } from '../helpers/lab-server.ts';

describe('lab server start', () => {
  test('no engine gives one line', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ddev-lab-no-docker-'));
    try {
      const result = spawnSync(process.execPath, ['lab-server/src/main.ts'], {
        cwd: ROOT,
        env: { ...process.env, DOCKER_HOST: `unix://${folder}/docker.sock`, LAB_PORT: '0' },
        encoding: 'utf8',
        timeout: 30_000,
      });

      assert.equal(result.status, 1);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(
        result.stderr,
        /No Docker Engine replied at unix:\/\/.*docker\.sock\. Start Docker/,
      );
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('invalid setting gives its name', () => {
    const result = spawnSync(process.execPath, ['lab-server/src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, LAB_PORT: 'eighty' },
      encoding: 'utf8',
      timeout: 30_000,
    });

    assert.equal(result.status, 1);
    assert.match(result.stderr, /LAB_PORT \(or --port\)="eighty"/);
  });

  test('second start reuses images and site', async () => {
    const instance = uniqueInstance('it-start');
    const env = { LAB_BUILD_IMAGES: '1', LAB_BUILD_SITE: '1' };
    try {
      // The first start brings images and site up to date, whatever earlier tests changed.
      const first = await startLabServer({ instance, env });
      await first.kill('SIGTERM');

      await using second = await startLabServer({ instance, env });

      assert.match(second.output(), /site is up to date/);
      assert.doesNotMatch(second.output(), /building the site/);
      assert.doesNotMatch(second.output(), /Step \d+\/\d+ :/);
      const page = await fetch(`${second.url}/labs/inside-the-web-container/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /Start the lab/);
    } finally {
      await removeInstance(instance);
    }
  });
});
