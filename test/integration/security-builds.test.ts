// Hardening of learners' builds on the real Docker Engine, through the lab server: a RUN step of
// a `docker build` in the workbench and of a web-build Restart runs without NET_RAW and MKNOD
// and with no new privileges, a fork bomb meets the pids limit, a step that writes past the disk
// quota is stopped with a message saying so, a Restart without egress reaches nothing outside, and
// nothing of any build is left once the session ends.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { LABELS, labelFilter } from '../../lab-server/src/sandbox/labels.ts';
import { docker, execIn, listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { startSession, type StartedSession } from '../helpers/sessions.ts';

const LAB_ID = 'hardened-builds';
const BASE = 'ddev-lab/ddev-base:trixie';
const DISK_MB = 64;
const NET_RAW = 13;
const MKNOD = 27;

const LAB = `
id: ${LAB_ID}
title: Hardened builds
summary: A workbench with the learner's docker command and a web container that Restart rebuilds.
minutes: 10
services:
  workbench:
    image: workbench
    docker: true
  web:
    image: webserver
terminals:
  - id: workbench
    title: workbench
    service: workbench
    user: ddev
projectBuild:
  service: web
steps:
  - id: look
    title: Look around
    body: Run docker ps.
    check:
      service: workbench
      run: "true"
    hints:
      - Run docker ps.
    solution: "true"
`;

// Prints the step's capabilities and no-new-privileges flag, and whether it can open a connection
// to Debian's archive, the one outside address the builds may use.
const PROBE =
  "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; " +
  "if timeout 20 bash -c 'exec 3<>/dev/tcp/deb.debian.org/80' 2>/dev/null; then echo 'egress: open'; else echo 'egress: closed'; fi";

describe('hardened builds', () => {
  const instance = uniqueInstance('it-secbuild');
  let labsDir: string;
  let socketDir: string;
  let server: RunningServer;
  let session: StartedSession;
  let workbench: string;
  let web: string;

  const learner = (command: string) => execIn(workbench, command, 'ddev');

  before(async () => {
    labsDir = await mkdtemp(path.join(tmpdir(), 'secbuild-labs-'));
    socketDir = await mkdtemp(path.join(tmpdir(), 'secbuild-sock-'));
    await writeFile(path.join(labsDir, `${LAB_ID}.yaml`), LAB);
    server = await startLabServer({
      instance,
      env: {
        LAB_LABS_DIR: labsDir,
        LAB_DOCKER_SOCKET_DIR: socketDir,
        LAB_DATABASE: ':memory:',
        LAB_CONTAINER_PIDS: '64',
        LAB_CONTAINER_DISK_MB: String(DISK_MB),
        LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '100',
      },
    });
    session = await startSession(server, LAB_ID);
    workbench = await serviceContainer(session.sessionId, 'workbench');
    web = await serviceContainer(session.sessionId, 'web');
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
    const images = await docker.listImages({
      all: true,
      filters: JSON.stringify(labelFilter({ [LABELS.instance]: instance })),
    });
    for (const image of images.sort((a, b) => b.Created - a.Created))
      await docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined);
    await rm(labsDir, { recursive: true, force: true });
    await rm(socketDir, { recursive: true, force: true });
  });

  test('docker build step has no NET_RAW or MKNOD', { timeout: 300_000 }, async () => {
    const result = await learner(
      `mkdir -p /tmp/caps && printf '%s\\n' 'FROM ${BASE}' ${shellQuote(`RUN ${PROBE}`)} > /tmp/caps/Dockerfile && docker build --no-cache -t caps /tmp/caps`,
    );

    assert.equal(result.exitCode, 0, result.output);
    assertHardened(result.output);
    assert.match(result.output, /^egress: closed$/m);
  });

  test('restart step is hardened and offline', { timeout: 600_000 }, async () => {
    await execIn(
      web,
      `mkdir -p /var/www/html/.ddev/web-build && printf '%s\\n' ${shellQuote(`RUN ${PROBE}`)} > /var/www/html/.ddev/web-build/Dockerfile.probe`,
      'ddev',
    );

    const events = await restart();
    const output = events
      .filter((event) => event.type === 'line')
      .map((event) => event.line)
      .join('\n');

    assert.equal(
      events.at(-1)?.type,
      'done',
      `${JSON.stringify(events.at(-1))}\n${server.output().slice(-4000)}`,
    );
    assertHardened(output);
    assert.match(output, /^egress: closed$/m, 'a lab without egress builds on an internal network');

    const networks = await docker.listNetworks({
      filters: JSON.stringify(
        labelFilter({
          [LABELS.instance]: instance,
          [LABELS.session]: session.sessionId,
          [LABELS.service]: 'build-internal',
        }),
      ),
    });
    assert.equal(networks.length, 1);
    assert.equal((await docker.getNetwork(networks[0]!.Id).inspect()).Internal, true);
    web = await serviceContainer(session.sessionId, 'web');
  });

  test('fork bomb meets the pids limit', { timeout: 300_000 }, async () => {
    const bomb = 'RUN i=0; while [ $i -lt 100000 ]; do sleep 300 & i=$((i+1)); done';
    const result = await learner(
      `mkdir -p /tmp/bomb && printf '%s\\n' 'FROM ${BASE}' ${shellQuote(bomb)} > /tmp/bomb/Dockerfile && docker build -t bomb /tmp/bomb`,
    );
    const health = await fetch(`${server.url}/api/health`);

    assert.notEqual(result.exitCode, 0);
    assert.match(result.output, /Cannot fork/);
    assert.match(result.output, /returned a non-zero code/);
    assert.equal(health.status, 200);
    assert.deepEqual(await buildContainers(), []);
  });

  test('step past the disk quota is stopped', { timeout: 300_000 }, async () => {
    const fill = `RUN head -c ${DISK_MB * 4}M /dev/zero > /fill.bin; sleep 30`;
    const result = await learner(
      `mkdir -p /tmp/fill && printf '%s\\n' 'FROM ${BASE}' ${shellQuote(fill)} > /tmp/fill/Dockerfile && docker build -t fill /tmp/fill`,
    );

    assert.notEqual(result.exitCode, 0);
    assert.match(
      result.output,
      new RegExp(`was stopped: the build wrote more than its disk quota of ${DISK_MB} MiB`),
    );
    assert.deepEqual(await buildContainers(), []);
  });

  test('session end leaves nothing of the builds', { timeout: 120_000 }, async () => {
    const built = await sessionImages();
    assert.ok(built.length > 0, 'the builds above made images of the session');

    const response = await fetch(`${server.url}/api/sessions/${session.sessionId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${session.token}` },
    });
    assert.equal(response.status, 204);
    await waitUntil(
      async () => (await sessionImages()).length === 0,
      async () => JSON.stringify(await sessionImages(), null, 1) + server.output().slice(-3000),
    );

    const { containers, networks } = await listManaged(instance, session.sessionId);
    assert.deepEqual(containers, []);
    assert.deepEqual(networks, []);
  });

  async function restart(): Promise<Array<{ type: string; line?: string }>> {
    const response = await fetch(`${server.url}/api/sessions/${session.sessionId}/restart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.token}` },
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    return text
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line) as { type: string; line?: string });
  }

  async function sessionImages() {
    return docker.listImages({
      all: true,
      filters: JSON.stringify(
        labelFilter({ [LABELS.instance]: instance, [LABELS.session]: session.sessionId }),
      ),
    });
  }

  async function buildContainers() {
    return docker.listContainers({
      all: true,
      filters: JSON.stringify(labelFilter({ [LABELS.instance]: instance, [LABELS.kind]: 'build' })),
    });
  }
});

/** Checks the probe's output: neither NET_RAW nor MKNOD in the effective set, and NoNewPrivs set. */
function assertHardened(output: string): void {
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(output)?.[1];
  assert.ok(capEff, output);
  const capabilities = BigInt(`0x${capEff}`);

  assert.equal(capabilities & (1n << BigInt(NET_RAW)), 0n, `CapEff ${capEff} has NET_RAW`);
  assert.equal(capabilities & (1n << BigInt(MKNOD)), 0n, `CapEff ${capEff} has MKNOD`);
  assert.match(output, /^NoNewPrivs:\s*1$/m);
}

async function serviceContainer(sessionId: string, service: string): Promise<string> {
  const containers = await docker.listContainers({
    filters: JSON.stringify(
      labelFilter({
        [LABELS.session]: sessionId,
        [LABELS.service]: service,
        [LABELS.kind]: 'sandbox',
      }),
    ),
  });
  assert.equal(containers.length, 1, `one running ${service} container`);
  return containers[0]!.Id;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

async function waitUntil(
  condition: () => Promise<boolean>,
  describe: () => Promise<string>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`condition not met within ${timeoutMs} ms: ${await describe()}`);
}
