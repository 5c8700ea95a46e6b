// Hardening of learners' builds on the real Docker Engine, through the lab server: a RUN step of
// a `docker build` in the workbench and of a web-build Restart runs without NET_RAW and MKNOD
// and with no new privileges, a fork bomb meets the pids limit, a step that writes past the disk
// quota is stopped with a message saying so, a Restart without egress reaches nothing outside, and
// nothing of any build is left once the session ends. A build reads no image of another session or
// of the host, however its Dockerfile is written.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { LABELS, labelFilter } from '../../lab-server/src/sandbox/labels.ts';
import {
  docker,
  execIn,
  listManaged,
  removeInstance,
  removeInstanceImages,
} from '../helpers/docker.ts';
import { buildLab, serviceContainer, shellQuote } from '../helpers/build-lab.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { startSession, type StartedSession } from '../helpers/sessions.ts';

const LAB_ID = 'hardened-builds';
const BASE = 'ddev-lab/ddev-base:trixie';
const DISK_MB = 64;
const NET_RAW = 13;
const MKNOD = 27;

const LAB = buildLab(LAB_ID, 'Hardened builds');

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
  /** A second learner, who tries to read the first one's image. */
  let other: StartedSession;
  let otherWorkbench: string;
  let otherWeb: string;

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
        // The second learner tries every way to read the first one's image, one build each.
        LAB_DOCKER_BUILDS: '100',
      },
    });
    session = await startSession(server, LAB_ID);
    workbench = await serviceContainer(session.sessionId, 'workbench');
    web = await serviceContainer(session.sessionId, 'web');
    other = await startSession(server, LAB_ID);
    otherWorkbench = await serviceContainer(other.sessionId, 'workbench');
    otherWeb = await serviceContainer(other.sessionId, 'web');
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
    await removeInstanceImages(instance);
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

    const events = await restart(session);
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

  test('restart image has a tag of its session', { timeout: 60_000 }, async () => {
    const shared = `ddev-lab/ddev-webserver:trixie-${LAB_ID}-built`;
    const own = await docker.getImage(`lab-${session.sessionId}/${shared}`).inspect();

    assert.equal(own.Config.Labels?.[LABELS.session], session.sessionId);
    await assert.rejects(docker.getImage(shared).inspect(), /no such image/i);
  });

  test('build reads no other image', { timeout: 900_000 }, async () => {
    const secret = `secret-${randomBytes(8).toString('hex')}`;
    const secretBuild = await learner(
      `mkdir -p /tmp/secret && printf '%s\\n' 'FROM ${BASE}' 'RUN echo ${secret} > /secret.txt' > /tmp/secret/Dockerfile && docker build -q -t secret /tmp/secret`,
    );
    assert.equal(secretBuild.exitCode, 0, secretBuild.output);
    const theirs = `lab-${session.sessionId}/secret:latest`;
    const theirId = (await docker.getImage(theirs).inspect()).Id;
    const host = await hostImage(secret);

    const names = [theirs, theirId, host.name, host.id, host.id.slice('sha256:'.length, 19)];
    const dockerfiles = names.flatMap((name) => [
      `FROM ${name}`,
      `FROM ${BASE}\nCOPY --from=${name} /secret.txt /x`,
      `FROM ${BASE}\nCOPY --FROM=${name} /secret.txt /x`,
      `FROM ${BASE}\nCOPY --from=0 --from=${name} /secret.txt /x`,
      `FROM ${BASE}\nCOPY \\\n\n--from=${name} /secret.txt /x`,
    ]);
    dockerfiles.push(`FROM --PLATFORM=linux/amd64 ${theirs}`);

    for (const [index, dockerfile] of dockerfiles.entries()) {
      const folder = `/tmp/steal-${index}`;
      const text = `${dockerfile}\nRUN cat /secret.txt /x || true`;
      const result = await execIn(
        otherWorkbench,
        `mkdir -p ${folder} && printf '%s\\n' ${shellQuote(text)} > ${folder}/Dockerfile && docker build --no-cache -t steal ${folder}`,
        'ddev',
      );
      assert.notEqual(result.exitCode, 0, `${text}\n${result.output}`);
      assert.match(
        result.output,
        /is not allowed in this lab|is given more than once|is not one this build may use/,
        text,
      );
      assert.ok(!result.output.includes(secret), `${text}\n${result.output}`);
    }
  });

  test('restart reads no other image', { timeout: 600_000 }, async () => {
    const theirs = `lab-${session.sessionId}/ddev-lab/ddev-webserver:trixie-${LAB_ID}-built`;
    const theirId = (await docker.getImage(theirs).inspect()).Id;
    const fragments = [theirs, theirId].flatMap((name) => [
      `COPY --FROM=${name} /etc/hostname /x`,
      `COPY --from=0 --from=${name} /etc/hostname /x`,
      `COPY \\\n\n--from=${name} /etc/hostname /x`,
      `FROM --PLATFORM=linux/amd64 ${name} AS x`,
    ]);

    for (const fragment of fragments) {
      await execIn(
        otherWeb,
        `mkdir -p /var/www/html/.ddev/web-build && printf '%s\\n' ${shellQuote(fragment)} > /var/www/html/.ddev/web-build/Dockerfile.steal`,
        'ddev',
      );
      const events = await restart(other);
      const last = events.at(-1) as { type: string; message?: string } | undefined;

      assert.equal(last?.type, 'error', `${fragment}\n${JSON.stringify(events)}`);
      assert.match(
        last?.message ?? '',
        /may not use|is given more than once/,
        `${fragment}\n${JSON.stringify(last)}`,
      );
    }
    assert.equal(await serviceContainer(other.sessionId, 'web'), otherWeb);
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

  async function restart(of: StartedSession): Promise<Array<{ type: string; line?: string }>> {
    const response = await fetch(`${server.url}/api/sessions/${of.sessionId}/restart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${of.token}` },
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    return text
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line) as { type: string; line?: string });
  }

  /** Makes an image outside every session, with the secret in /secret.txt and the test's label. */
  async function hostImage(secret: string): Promise<{ name: string; id: string }> {
    const container = await docker.createContainer({
      Image: BASE,
      Cmd: ['sh', '-c', `echo ${secret} > /secret.txt`],
      Labels: { [LABELS.instance]: instance },
    });
    try {
      await container.start();
      await container.wait();
      const name = `${instance}-host/secret`;
      await container.commit({ repo: name, tag: 'latest' });
      return { name, id: (await docker.getImage(name).inspect()).Id };
    } finally {
      await container.remove({ force: true });
    }
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
