// Restart on the real Docker Engine. The web container's .ddev/web-build is built into
// `<image>-<project>-built` and the container is recreated from it. A broken fragment reports
// its step and file, and the running container stays.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pack } from 'tar-fs';

import { docker, removeInstance } from '../helpers/docker.ts';
import { uniqueInstance } from '../helpers/lab-server.ts';
import { imageTag } from '../../lab-server/src/images/catalog.ts';
import { ProjectBuildFailedError } from '../../lab-server/src/project-build/errors.ts';
import {
  rebuildProject,
  type RebuildEvent,
  type RebuildRequest,
} from '../../lab-server/src/project-build/rebuild.ts';
import { DockerRuntime } from '../../lab-server/src/sandbox/docker-runtime.ts';
import { LABELS } from '../../lab-server/src/sandbox/labels.ts';
import { openProjectBuildEngine } from '../../lab-server/src/sandbox/project-build-engine.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/project-build', import.meta.url));
const BASE_IMAGE = imageTag('webserver');

describe('project build on Docker', () => {
  const instance = uniqueInstance('it-project-build');
  const sessionId = randomBytes(8).toString('hex');
  const runtime = new DockerRuntime();
  const engine = openProjectBuildEngine();
  let containerId: string;

  before(async () => {
    const sandbox = await runtime.createSandbox({
      instance,
      sessionId,
      labId: 'project-build-test',
      expiresAt: Date.now() + 30 * 60_000,
      services: [{ name: 'web', imageTag: BASE_IMAGE, environment: {} }],
      limits: { memoryBytes: 512 * 1024 * 1024, nanoCpus: 1e9, pids: 256 },
    });
    containerId = sandbox.containers.web!;
    await copyIntoContainer(containerId, FIXTURES, '/var/www/html/.ddev');
  });

  after(async () => {
    await runtime.removeSandbox(instance, sessionId).catch(() => undefined);
    await engine.removeImages({ [LABELS.managed]: 'true', [LABELS.instance]: instance });
    await removeInstance(instance);
  });

  function request(events: RebuildEvent[]): RebuildRequest {
    return {
      instance,
      sessionId,
      labId: 'project-build-test',
      service: 'web',
      containerId,
      baseImage: BASE_IMAGE,
      release: 'trixie',
      allowedImages: [BASE_IMAGE],
      limits: {
        memoryBytes: 768 * 1024 * 1024,
        nanoCpus: 1e9,
        pids: 512,
        diskBytes: 2048 * 1024 * 1024,
        timeoutSeconds: 600,
      },
      // The fixture installs packages from Debian's archive.
      egress: true,
      startTimeoutSeconds: 90,
      onEvent: (event) => events.push(event),
    };
  }

  test('builds and recreates web', { timeout: 900_000 }, async () => {
    const events: RebuildEvent[] = [];
    const oldId = containerId;

    const result = await rebuildProject(engine, request(events));
    containerId = result.containerId;

    assert.equal(result.tag, `${BASE_IMAGE}-demo-built`);
    assert.notEqual(result.containerId, oldId);
    assert.ok(
      events.some(
        (event) => event.type === 'line' && /^Step \d+\/\d+ : RUN figlet/.test(event.line),
      ),
    );
    assert.ok(
      events.some(
        (event) => event.type === 'dockerfile' && event.skipped.includes('Dockerfile.example'),
      ),
    );

    assert.equal(await run(containerId, 'tree --version | cut -c1-4'), 'tree');
    assert.equal(
      await run(containerId, 'cat /etc/ddev-lab/greeting.txt'),
      'Hello from the build context.',
    );
    assert.equal(await run(containerId, 'cat /etc/motd'), 'Built by ddev-lab from .ddev/web-build');
    assert.match(await run(containerId, 'cat /etc/ddev-lab/banner.txt'), /\S/);
    assert.equal(await run(containerId, 'echo "$LAB_STAGE"'), 'pre');
    assert.equal(
      await run(containerId, 'test -f /var/www/html/.ddev/web-build/Dockerfile.tool && echo kept'),
      'kept',
    );
    assert.equal(await run(containerId, 'id -nG ddev | tr " " "\\n" | grep -x tty'), 'tty');

    const info = await docker.getContainer(containerId).inspect();
    assert.equal(info.State.Running, true);
    assert.equal(info.Name, `/ddevlab-${instance}-${sessionId}-web`);
    assert.equal(info.Config.Labels[LABELS.session], sessionId);
    assert.equal(info.Config.Labels[LABELS.kind], 'sandbox');
    assert.deepEqual(info.HostConfig.CapDrop, ['ALL']);
    assert.ok((info.HostConfig.Memory ?? 0) > 0);
    await assert.rejects(docker.getContainer(oldId).inspect(), { statusCode: 404 });

    // A lab with egress builds on a network with a route out; one without gets an internal one.
    const network = await docker.getNetwork(`ddevlab-${instance}-build-${sessionId}`).inspect();
    assert.equal(network.Internal, false);

    const image = await docker.getImage(result.imageId).inspect();
    assert.equal(image.Config.Labels[LABELS.session], sessionId);
    assert.equal(image.Config.Labels[LABELS.instance], instance);
    assert.ok(result.layers.some((layer) => layer.createdBy.includes('figlet')));
  });

  test('failing fragment keeps web', { timeout: 600_000 }, async () => {
    await run(
      containerId,
      "printf 'RUN no-such-tool --version\\n' > /var/www/html/.ddev/web-build/Dockerfile.zz-broken",
    );

    await assert.rejects(rebuildProject(engine, request([])), (error: unknown) => {
      assert.ok(error instanceof ProjectBuildFailedError, String(error));
      assert.equal(error.source, 'web-build/Dockerfile.zz-broken');
      assert.match(error.step ?? '', /^step \d+ `RUN no-such-tool --version`$/);
      assert.match(error.message, /returned a non-zero code: 127/);
      return true;
    });

    const info = await docker.getContainer(containerId).inspect();
    assert.equal(info.State.Running, true);
    assert.equal(await run(containerId, 'tree --version | cut -c1-4'), 'tree');
  });

  async function run(id: string, command: string, user = 'ddev'): Promise<string> {
    const result = await runtime.runCommand(id, { user, command, timeoutSeconds: 30 });
    assert.equal(result.exitCode, 0, `${command}\n${result.stdout}${result.stderr}`);
    return result.stdout.trim();
  }
});

/** Copies a host folder's contents into a folder of the container, owned by ddev. */
async function copyIntoContainer(
  containerId: string,
  folder: string,
  target: string,
): Promise<void> {
  const container = docker.getContainer(containerId);
  const archive = pack(folder, {
    map: (header) => ({
      ...header,
      name: path.posix.join(path.posix.basename(target), header.name),
      uid: 1000,
      gid: 1000,
    }),
  });
  await container.putArchive(Readable.from(archive), { path: path.posix.dirname(target) });
}
