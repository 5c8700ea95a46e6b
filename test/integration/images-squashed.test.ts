// The squashed webserver on the real Docker Engine: one layer, the same files and config as the
// layered webserver, and it still serves PHP.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { docker, removeInstance } from '../helpers/docker.ts';
import { uniqueInstance } from '../helpers/lab-server.ts';
import { imageTag } from '../../lab-server/src/images/catalog.ts';
import { ensureImages } from '../../lab-server/src/images/build.ts';
import { managedLabels } from '../../lab-server/src/sandbox/labels.ts';
import { execText, HARDENED, waitHealthy } from '../helpers/images.ts';

/**
 * Lists every file with type, owner, mode, size and link target, leaving out what the engine
 * mounts at run time. Directory sizes are left out because they depend on the storage driver.
 */
const LIST_FILES = [
  'find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /etc/hostname',
  '-o -path /etc/hosts -o -path /etc/resolv.conf \\) -prune',
  "-o -type d -printf '%p d %u %g %m\\n'",
  "-o -printf '%p %y %u %g %m %s %l\\n' | sort",
].join(' ');

const HEALTHY_WITHIN_MS = 60_000;

describe('squashed webserver image', () => {
  const instance = uniqueInstance('it-images-squashed');
  let reportDir: string;

  before(async () => {
    reportDir = await mkdtemp(join(tmpdir(), 'ddev-lab-report-'));
    await ensureImages({
      names: ['webserver-squashed'],
      reportPath: join(reportDir, 'report.json'),
    });
  });

  after(async () => {
    await removeInstance(instance);
    await rm(reportDir, { recursive: true, force: true });
  });

  test('squashed image has one layer', async () => {
    const layered = await docker.getImage(imageTag('webserver')).inspect();
    const squashed = await docker.getImage(imageTag('webserver-squashed')).inspect();

    assert.equal(squashed.RootFS.Layers?.length, 1);
    assert.ok((layered.RootFS.Layers?.length ?? 0) > 5);
  });

  test('squashed config matches webserver', async () => {
    const layered = (await docker.getImage(imageTag('webserver')).inspect()).Config;
    const squashed = (await docker.getImage(imageTag('webserver-squashed')).inspect()).Config;

    assert.deepEqual(squashed.Env, layered.Env);
    assert.deepEqual(squashed.Cmd, layered.Cmd);
    assert.deepEqual(squashed.Entrypoint, layered.Entrypoint);
    assert.deepEqual(squashed.Healthcheck, layered.Healthcheck);
    assert.deepEqual(squashed.ExposedPorts, layered.ExposedPorts);
    assert.equal(squashed.User, layered.User);
    assert.equal(squashed.WorkingDir, layered.WorkingDir);
  });

  test('squashed files match webserver', async () => {
    const layered = await runOnce(instance, imageTag('webserver'), ['sh', '-c', LIST_FILES]);
    const squashed = await runOnce(instance, imageTag('webserver-squashed'), [
      'sh',
      '-c',
      LIST_FILES,
    ]);

    const layeredLines = new Set(layered.split('\n'));
    const squashedLines = new Set(squashed.split('\n'));
    const missing = [...layeredLines].filter((line) => !squashedLines.has(line));
    const extra = [...squashedLines].filter((line) => !layeredLines.has(line));

    assert.ok(layeredLines.size > 10_000, 'the file list looks truncated');
    assert.deepEqual(
      missing.slice(0, 20),
      [],
      'files of webserver missing or different in the squashed image',
    );
    assert.deepEqual(extra.slice(0, 20), [], 'files only in the squashed image');
  });

  test('squashed webserver serves PHP', async () => {
    const network = await docker.createNetwork({
      Name: `${instance}-net`,
      Labels: managedLabels({ kind: 'network', instance }),
    });
    const container = await docker.createContainer({
      Image: imageTag('webserver-squashed'),
      Labels: managedLabels({ kind: 'sandbox', instance, service: 'web' }),
      HostConfig: { ...HARDENED, NetworkMode: network.id },
    });
    await container.start();

    await waitHealthy(container, HEALTHY_WITHIN_MS);
    const page = await execText(container, ['curl', '--silent', '--fail', 'http://localhost/']);

    assert.match(page, /fpm-fcgi/);
  });
});

/** Runs a command in a new container as root (to read every file) and returns its stdout. */
async function runOnce(instance: string, image: string, cmd: string[]): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: cmd,
    User: 'root',
    Labels: managedLabels({ kind: 'sandbox', instance, service: 'list-files' }),
    HostConfig: { NetworkMode: 'none' },
  });
  await container.start();
  const { StatusCode } = await container.wait();
  const logs = await container.logs({ stdout: true, stderr: false });
  await container.remove({ force: true });

  assert.equal(StatusCode, 0);
  return demux(logs);
}

/** Extracts stdout from a multiplexed log buffer (8-byte frame headers). */
function demux(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    if (buffer[offset] === 1) parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
