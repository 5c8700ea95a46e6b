// Limits on one learner's builds, on the real Docker Engine. A Restart step that prints one
// endless line gets the line cut while /api/health still responds. A compressed build context
// that unpacks past the limit is rejected. A client that reads no build output does not grow the
// server's memory. The images a session builds count against its disk quota until `docker rmi`
// frees them, and a Restart counts only the image it keeps. A step that makes too many files
// is stopped.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

import { LABELS, labelFilter } from '../../lab-server/src/sandbox/labels.ts';
import { docker, execIn, removeInstance, removeInstanceImages } from '../helpers/docker.ts';
import { buildLab, serviceContainer, shellQuote } from '../helpers/build-lab.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { startSession, type StartedSession } from '../helpers/sessions.ts';

const LAB_ID = 'build-limits';
const BASE = 'ddev-lab/ddev-base:trixie';
const DISK_MB = 300;
const MIB = 1024 * 1024;

const LAB = buildLab(LAB_ID, 'Build limits');

describe('build limits', () => {
  const instance = uniqueInstance('it-buildlim');
  let labsDir: string;
  let socketDir: string;
  let server: RunningServer;
  let session: StartedSession;
  let workbench: string;
  let web: string;

  const learner = (command: string) => execIn(workbench, command, 'ddev');

  before(async () => {
    labsDir = await mkdtemp(path.join(tmpdir(), 'buildlim-labs-'));
    socketDir = await mkdtemp(path.join(tmpdir(), 'buildlim-sock-'));
    await writeFile(path.join(labsDir, `${LAB_ID}.yaml`), LAB);
    server = await startLabServer({
      instance,
      env: {
        LAB_LABS_DIR: labsDir,
        LAB_DOCKER_SOCKET_DIR: socketDir,
        LAB_DATABASE: ':memory:',
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
    await removeInstanceImages(instance);
    await rm(labsDir, { recursive: true, force: true });
    await rm(socketDir, { recursive: true, force: true });
  });

  test('restart step printing one endless line is cut', { timeout: 600_000 }, async () => {
    const run = 'RUN head -c 50000000 /dev/zero | tr "\\0" a; echo; echo after-the-long-line';
    await execIn(
      web,
      `mkdir -p /var/www/html/.ddev/web-build && printf '%s\\n' ${shellQuote(run)} > /var/www/html/.ddev/web-build/Dockerfile.long`,
      'ddev',
    );

    let finished = false;
    const restarting = restart().finally(() => {
      finished = true;
    });
    let answered = 0;
    while (!finished) {
      const health = await fetch(`${server.url}/api/health`);
      assert.equal(health.status, 200);
      answered += 1;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const events = await restarting;
    const lines = events.filter((event) => event.type === 'line').map((event) => event.line!);

    assert.ok(answered > 0);
    assert.equal(events.at(-1)?.type, 'done', JSON.stringify(events.at(-1)));
    const cut = lines.find((line) => line.startsWith('aaaa'));
    assert.ok(cut, 'the long line is shown');
    assert.match(cut, /^a{4096} \[line cut: longer than 4096 characters\]$/);
    assert.ok(lines.includes('after-the-long-line'), 'the output after the long line is kept');
    web = await serviceContainer(session.sessionId, 'web');
    await execIn(web, 'rm /var/www/html/.ddev/web-build/Dockerfile.long', 'ddev');
  });

  test('compressed context past the limit is rejected', async () => {
    const tar = await tarOf({
      Dockerfile: Buffer.from(`FROM ${BASE}\n`),
      'zeros.bin': Buffer.alloc(100 * MIB),
    });
    const reply = await proxyRequest('/v1.41/build?t=bomb', gzipSync(tar));
    const text = await readAll(reply);

    assert.equal(reply.statusCode, 413, text);
    assert.match(text, /larger than 32 MiB once unpacked/);
    assert.match(text, /\.dockerignore/);
  });

  test('a client that reads no output does not grow the server', { timeout: 300_000 }, async () => {
    const dockerfile = `FROM ${BASE}\nRUN head -c 200000000 /dev/zero | tr "\\0" a\n`;
    const pid = server.process.pid!;
    const before = rssKb(pid);
    let peak = before;

    const reply = await proxyRequest(
      '/v1.41/build?t=slow',
      await tarOf({ Dockerfile: Buffer.from(dockerfile) }),
    );
    reply.pause();
    await waitUntil(
      async () => {
        peak = Math.max(peak, rssKb(pid));
        return (await sessionImages()).some((image) =>
          (image.RepoTags ?? []).some((tag) => tag.endsWith('/slow:latest')),
        );
      },
      async () => server.output().slice(-3000),
      240_000,
    );
    peak = Math.max(peak, rssKb(pid));
    const text = await readAll(reply);

    process.stdout.write(`# slow reader: server RSS ${before} kB before, ${peak} kB peak\n`);
    assert.ok(peak - before < 150 * 1024, `server RSS grew by ${peak - before} kB`);
    const outputTail = text.replace(/a{200,}/g, (run) => `<${run.length} a>`).slice(-3000);
    assert.match(
      text,
      /bytes of output left out: the client read slower than the build wrote/,
      outputTail,
    );
    assert.match(text, /Successfully tagged slow:latest/, outputTail);
  });

  test('session images fill the disk quota until docker rmi', { timeout: 600_000 }, async () => {
    const build = (name: string) =>
      learner(
        `mkdir -p /tmp/${name} && printf '%s\\n' 'FROM ${BASE}' ${shellQuote(`RUN head -c 120M /dev/zero > /${name}.bin`)} > /tmp/${name}/Dockerfile && docker build -t ${name} /tmp/${name}`,
      );

    for (const name of ['big1', 'big2']) {
      const result = await build(name);
      assert.equal(result.exitCode, 0, result.output);
    }
    const thirdBuild = await build('big3');
    assert.notEqual(thirdBuild.exitCode, 0, thirdBuild.output);
    const heldMatch = /images this session built hold (\d+) MiB of it already/.exec(
      thirdBuild.output,
    );
    assert.ok(heldMatch, thirdBuild.output);
    assert.ok(Number(heldMatch[1]) >= 240, thirdBuild.output);
    assert.match(thirdBuild.output, new RegExp(`disk quota of ${DISK_MB} MiB allows`));
    assert.match(thirdBuild.output, /docker rmi/);

    const removed = await learner('docker rmi big1');
    assert.equal(removed.exitCode, 0, removed.output);
    const again = await build('big3');
    assert.equal(again.exitCode, 0, again.output);
  });

  test('untagged own image can be removed', { timeout: 300_000 }, async () => {
    const build = (text: string) =>
      learner(
        `mkdir -p /tmp/retag && printf '%s\\n' 'FROM ${BASE}' ${shellQuote(`RUN echo ${text} > /retag.txt`)} > /tmp/retag/Dockerfile && docker build -q -t retag /tmp/retag`,
      );

    const first = await build('one');
    assert.equal(first.exitCode, 0, first.output);
    const oldId = /sha256:([0-9a-f]{64})/.exec(first.output)?.[1];
    assert.ok(oldId, first.output);
    const second = await build('two');
    assert.equal(second.exitCode, 0, second.output);

    const removed = await learner(`docker rmi ${oldId.slice(0, 12)}`);
    assert.equal(removed.exitCode, 0, removed.output);
    const gone = await learner(`docker image inspect ${oldId.slice(0, 12)}`);
    assert.notEqual(gone.exitCode, 0, gone.output);
  });

  test('step making too many files is stopped', { timeout: 300_000 }, async () => {
    const many = 'RUN mkdir /many && cd /many && seq 1 120000 | xargs touch';
    const result = await learner(
      `mkdir -p /tmp/many && printf '%s\\n' 'FROM ${BASE}' ${shellQuote(many)} > /tmp/many/Dockerfile && docker build -t many /tmp/many`,
    );

    assert.notEqual(result.exitCode, 0, result.output);
    assert.match(result.output, /created or changed more than 100000 files and folders/);
  });

  test('restarts count only the image they keep', { timeout: 600_000 }, async () => {
    const other = await startSession(server, LAB_ID);
    let otherWeb = await serviceContainer(other.sessionId, 'web');
    for (const round of [1, 2, 3]) {
      const fill = `RUN echo round ${round} && head -c 120M /dev/zero > /opt/fill.bin`;
      const written = await execIn(
        otherWeb,
        `mkdir -p /var/www/html/.ddev/web-build && printf '%s\\n' ${shellQuote(fill)} > /var/www/html/.ddev/web-build/Dockerfile.fill`,
        'ddev',
      );
      assert.equal(written.exitCode, 0, written.output);
      const events = await restart(other);
      assert.equal(events.at(-1)?.type, 'done', `round ${round}: ${JSON.stringify(events.at(-1))}`);
      assert.ok(events.some((event) => event.line === `round ${round}`));
      otherWeb = await serviceContainer(other.sessionId, 'web');
    }
  });

  function proxyRequest(urlPath: string, body: Buffer): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          socketPath: path.join(socketDir, instance, session.sessionId, 'docker.sock'),
          path: urlPath,
          method: 'POST',
          headers: { 'content-type': 'application/x-tar', 'content-length': body.length },
        },
        resolve,
      );
      request.once('error', reject);
      request.end(body);
    });
  }

  async function restart(
    owner: StartedSession = session,
  ): Promise<Array<{ type: string; line?: string }>> {
    const response = await fetch(`${server.url}/api/sessions/${owner.sessionId}/restart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}` },
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
      filters: JSON.stringify(
        labelFilter({ [LABELS.instance]: instance, [LABELS.session]: session.sessionId }),
      ),
    });
  }
});

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
}

async function tarOf(files: Record<string, Buffer>): Promise<Buffer> {
  const packer = pack();
  for (const [name, data] of Object.entries(files)) packer.entry({ name }, data);
  packer.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of packer as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function readAll(stream: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function waitUntil(
  condition: () => Promise<boolean>,
  describe: () => Promise<string>,
  timeoutMs: number,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.fail(`condition not met in ${timeoutMs / 1000} s: ${await describe()}`);
}
