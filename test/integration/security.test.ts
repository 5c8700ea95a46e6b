// Attacks from a learner's terminal and from hostile clients, on the real Docker Engine. Each
// case asserts that the host and the other sessions are unaffected and the server still serves.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { after, before, describe, test } from 'node:test';

import { docker, execIn, listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { TestTerminal } from '../helpers/terminal-client.ts';
import { LABELS } from '../../lab-server/src/sandbox/labels.ts';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame } from '../../lab-server/src/terminal/protocol.ts';
import { startSession, stopSession, type StartedSession } from '../helpers/sessions.ts';

const LAB = 'inside-the-web-container';
const INSTRUCTOR_TOKEN = 'security-instructor-token-0123456789';
const CHURN_LAB = 'churn';

/** A one-container lab, so that creating and removing 100 sessions tests the server, not the images. */
function churnLab() {
  return {
    id: CHURN_LAB,
    title: 'Churn',
    summary: 'One idle container.',
    minutes: 5,
    services: { box: { image: 'base', command: ['sleep', 'infinity'] } },
    terminals: [{ id: 'box', title: 'box', service: 'box' }],
    steps: [
      {
        id: 'idle',
        title: 'Idle',
        body: 'Nothing to do.',
        check: { service: 'box', run: 'true' },
        hints: ['None.'],
        solution: 'true',
      },
    ],
  };
}

async function webContainer(instance: string, sessionId: string): Promise<string> {
  const { containers } = await listManaged(instance, sessionId);
  const web = containers.filter((info) => info.Labels[LABELS.service] === 'web');
  assert.equal(
    web.length,
    1,
    `expected one web container, found ${containers.map((info) => info.Labels[LABELS.service]).join(', ')}`,
  );
  return web[0]!.Id;
}

/** Posts a session start without a learner cookie unless given one; returns status and body. */
async function postSession(
  server: RunningServer,
  labId: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { message?: string } }> {
  const response = await fetch(`${server.url}/api/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ labId }),
  });
  return { status: response.status, body: (await response.json()) as { message?: string } };
}

/** Creates a training of the lab as the instructor, joins it, and returns the learner's cookie. */
async function joinTraining(server: RunningServer, labId: string): Promise<string> {
  const created = await fetch(`${server.url}/api/instructor/trainings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${INSTRUCTOR_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Room', labs: [labId], minutes: 60, expectedLearners: 2 }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { joinCode } = (await created.json()) as { joinCode: string };

  const joined = await fetch(`${server.url}/api/trainings/join`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: joinCode, name: 'Ada' }),
  });
  assert.equal(joined.status, 201, await joined.clone().text());
  return joined.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';')[0])
    .join('; ');
}

async function assertServes(server: RunningServer): Promise<void> {
  const response = await fetch(`${server.url}/api/health`);
  assert.equal(response.status, 200);
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
}

describe('learner attacks', () => {
  const instance = uniqueInstance('sec');
  let server: RunningServer;

  before(async () => {
    server = await startLabServer({
      instance,
      env: {
        LAB_HOST: '0.0.0.0',
        // The test engine's runc may lack fixes for image-crafting escapes and its storage may have no
        // quotas; room mode would refuse both.
        LAB_RUNC_POLICY: 'learner',
        LAB_DISK_POLICY: 'measured',
        LAB_CONTAINER_PIDS: '128',
        LAB_CONTAINER_MEMORY_MB: '256',
        LAB_CONTAINER_DISK_MB: '64',
        LAB_DISK_CHECK_SECONDS: '1',
        LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '1000',
        // Every test here starts its own session from this one address, which room mode caps at 3.
        LAB_SESSIONS_PER_CLIENT: '0',
        LAB_MAX_SESSIONS: '200',
      },
    });
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  test('container runs confined', async () => {
    const session = await startSession(server);
    const id = await webContainer(instance, session.sessionId);

    const info = await docker.getContainer(id).inspect();
    const status = await execIn(
      id,
      'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
    );

    assert.deepEqual(info.HostConfig.CapAdd ?? [], []);
    assert.equal(info.HostConfig.LogConfig?.Config?.['max-size'], '1m');
    assert.ok(
      !(info.HostConfig.SecurityOpt ?? []).some((option: string) => option.includes('unconfined')),
    );
    assert.match(status.output, /CapEff:\s+0000000000000000/);
    assert.match(status.output, /CapBnd:\s+0000000000000000/);
    assert.match(status.output, /NoNewPrivs:\s+1/);
    assert.match(status.output, /Seccomp:\s+2/);
  });

  test('fork bomb hits the pids limit', async () => {
    const session = await startSession(server);
    const id = await webContainer(instance, session.sessionId);
    await using terminal = await TestTerminal.open(server.url, session.sessionId, session.token);

    terminal.type('bomb() { bomb | bomb & }; bomb\r');
    await new Promise((resolve) => setTimeout(resolve, 5000));

    const stats = await docker.getContainer(id).stats({ stream: false });
    assert.ok((stats.pids_stats?.current ?? 0) <= 128, `pids ${stats.pids_stats?.current}`);
    await assertServes(server);
    const other = await startSession(server);
    await using otherTerminal = await TestTerminal.open(server.url, other.sessionId, other.token);
    otherTerminal.type('echo other-$((40+2))\r');
    await otherTerminal.waitFor(/other-42/);
    await stopSession(server, session);
  });

  test('memory bomb is killed', async () => {
    const session = await startSession(server);
    await using terminal = await TestTerminal.open(server.url, session.sessionId, session.token);

    terminal.type('head -c 2000000000 /dev/zero | tail > /dev/null; echo "status=$?"\r');
    const match = await terminal.waitFor(/status=(\d+)/, 60_000);

    assert.equal(match[1], '137', 'tail was not killed by the memory limit');
    await assertServes(server);
  });

  test('disk filler loses its session', async () => {
    const session = await startSession(server);
    await using terminal = await TestTerminal.open(server.url, session.sessionId, session.token);

    terminal.type('dd if=/dev/zero of=$HOME/fill bs=1M count=400 status=none; echo written\r');

    const deadline = Date.now() + 30_000;
    while (
      Date.now() < deadline &&
      (await listManaged(instance, session.sessionId)).containers.length > 0
    ) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal((await listManaged(instance, session.sessionId)).containers.length, 0);
    assert.match(server.output(), /passed its disk quota/);
    await assertServes(server);
  });

  test('mount, modules and sysrq fail', async () => {
    const session = await startSession(server);
    const id = await webContainer(instance, session.sessionId);
    // init_module is system call 175 on x86_64 and 105 on arm64; perl-base is in every Debian image.
    const insmod =
      `perl -e 'my $n = (\`uname -m\` =~ /aarch64/) ? 105 : 175; my ($image, $params) = ("x" x 16, "");` +
      ` syscall($n, $image, 16, $params) == -1 or exit 0; print "errno=", $!+0, "\\n"; exit 1'`;

    for (const user of ['ddev', 'root']) {
      const mount = await execIn(id, 'mount -t tmpfs none /mnt', user);
      const module = await execIn(id, insmod, user);
      const sysrq = await execIn(id, 'echo h > /proc/sysrq-trigger', user);

      assert.notEqual(mount.exitCode, 0, `mount as ${user}: ${mount.output}`);
      assert.match(module.output, /errno=1\b/, `init_module as ${user}: ${module.output}`);
      assert.notEqual(sysrq.exitCode, 0, `sysrq as ${user}: ${sysrq.output}`);
    }
    await assertServes(server);
  });

  test('network stops at the session', async () => {
    const first = await startSession(server);
    const second = await startSession(server);
    const firstId = await webContainer(instance, first.sessionId);
    const secondId = await webContainer(instance, second.sessionId);
    const secondInfo = await docker.getContainer(secondId).inspect();
    const secondIp = Object.values(secondInfo.NetworkSettings.Networks)[0]!.IPAddress;
    const firstNetwork = (await listManaged(instance, first.sessionId)).networks[0]!;
    assert.equal((await listManaged(instance, first.sessionId)).networks.length, 1);
    const gateway = (await docker.getNetwork(firstNetwork.Id).inspect()).IPAM!.Config![0]!
      .Gateway as string;
    const port = Number(new URL(server.url).port);
    const probe = (host: string, target: number) =>
      `timeout 3 bash -c 'echo > /dev/tcp/${host}/${target}' && echo open || echo closed`;

    // nginx needs a moment after the container starts; wait until the container reaches itself.
    let ownWeb = await execIn(secondId, probe(secondIp, 80), 'ddev');
    for (let attempt = 0; attempt < 20 && !/open/.test(ownWeb.output); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      ownWeb = await execIn(secondId, probe(secondIp, 80), 'ddev');
    }
    const otherWeb = await execIn(firstId, probe(secondIp, 80), 'ddev');
    const labServer = await execIn(firstId, probe(gateway, port), 'ddev');
    // Docker's rule for an internal network drops whatever leaves its bridge for another subnet,
    // so no address outside the session (internet, cloud metadata) is reachable. Probing such an
    // address from a test is not an option, so the test reads the rule instead.
    const networkInfo = await docker.getNetwork(firstNetwork.Id).inspect();
    const bridge = networkInfo.Options!['com.docker.network.bridge.name'];
    const subnet = networkInfo.IPAM!.Config![0]!.Subnet;
    const rules = execFileSync('iptables', ['-w', '-S'], { encoding: 'utf8' });

    assert.match(ownWeb.output, /open/, 'the probe itself does not work');
    assert.match(otherWeb.output, /closed/, "another session's container is reachable");
    assert.match(labServer.output, /closed/, 'the lab server is reachable from a sandbox');
    assert.equal(networkInfo.Internal, true);
    assert.ok(
      rules.includes(`! -d ${subnet} -i ${bridge} -j DROP`),
      `no egress rule for ${bridge}:\n${rules}`,
    );
    const fromHost = await fetch(`http://${gateway}:${port}/api/health`);
    assert.equal(
      fromHost.status,
      200,
      'the lab server does not listen on the bridge, so the probe proves nothing',
    );
  });

  test('other host services are closed', async () => {
    const session = await startSession(server);
    const id = await webContainer(instance, session.sessionId);
    const network = (await listManaged(instance, session.sessionId)).networks[0]!;
    const gateway = (await docker.getNetwork(network.Id).inspect()).IPAM!.Config![0]!
      .Gateway as string;
    const service: Server = createServer((socket) => socket.end('hello\n'));
    await new Promise<void>((resolve) => service.listen(0, '0.0.0.0', resolve));
    const port = (service.address() as { port: number }).port;

    const primary = Object.entries(networkInterfaces())
      .filter(([name]) => !/^(lo|docker|br-|dl-|veth)/.test(name))
      .flatMap(([, addresses]) => addresses ?? [])
      .find((address) => address.family === 'IPv4' && !address.internal)?.address;

    try {
      for (const host of [gateway, primary].filter(Boolean)) {
        const probe = await execIn(
          id,
          `timeout 3 bash -c 'echo > /dev/tcp/${host}/${port}' && echo open || echo closed`,
          'ddev',
        );
        const fromHost = await new Promise<string>((resolve) => {
          const socket = connect(port, host!, () => socket.end());
          socket.on('data', (chunk) => resolve(String(chunk)));
          socket.on('error', (error) => resolve(error.message));
        });

        assert.match(
          fromHost,
          /hello/,
          `the test service does not answer on ${host}, so the probe proves nothing`,
        );
        assert.match(probe.output, /closed/, `a sandbox reaches a host service on ${host}`);
      }
    } finally {
      service.close();
    }
  });

  test('a minute of output flood', async () => {
    const session = await startSession(server);
    await using terminal = await FloodClient.open(server.url, session);
    const pid = server.process.pid!;
    const before = rssKb(pid);
    let peak = before;

    terminal.type('yes ddev-lab-flood\r');
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      peak = Math.max(peak, rssKb(pid));
    }
    terminal.type('\x03');
    terminal.type('echo flood-over\r');
    await terminal.waitFor(/^flood-over\r?$/m, 20_000);

    process.stdout.write(
      `# output flood: ${terminal.bytes} bytes in 60 s; server RSS ${before} kB before, ${peak} kB peak\n`,
    );
    assert.ok(peak - before < 150 * 1024, `server RSS grew by ${peak - before} kB`);
    await assertServes(server);
  });
});

/** A terminal client that counts output and keeps only its tail, for floods of many gigabytes. */
class FloodClient implements AsyncDisposable {
  bytes = 0;
  private tail = '';
  private readonly socket: WebSocket;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (frame.type !== 'output') return;
      this.bytes += frame.data.length;
      this.tail = (this.tail + Buffer.from(frame.data).toString('utf8')).slice(-4096);
      socket.send(encodeFrame({ type: 'ack', offset: frame.offset + frame.data.length }));
    });
  }

  static open(baseUrl: string, session: StartedSession): Promise<FloodClient> {
    const url = `${baseUrl.replace(/^http/, 'ws')}/ws/sessions/${session.sessionId}/terminals/web?cols=80&rows=24`;
    const socket = new WebSocket(url, ['ddev-lab.v1', `ddev-lab.token.${session.token}`], {
      origin: baseUrl,
    });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new FloodClient(socket)));
      socket.once('error', reject);
    });
  }

  type(text: string): void {
    this.socket.send(encodeFrame({ type: 'input', data: new TextEncoder().encode(text) }));
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (pattern.test(this.tail)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.fail(
      `output did not match ${pattern} within ${timeoutMs} ms; its tail was:\n${this.tail}`,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.socket.close(1000);
  }
}

/** Sends an HTTP request with headers that fetch() would not send as given, Host among them. */
function rawRequest(
  baseUrl: string,
  requestPath: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: hostname, port, path: requestPath, headers },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.once('error', reject);
    request.end();
  });
}

/** Sends a terminal WebSocket handshake with the given Host and Origin and resolves with the status. */
function rawUpgrade(
  baseUrl: string,
  requestPath: string,
  token: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      host: hostname,
      port,
      path: requestPath,
      headers: {
        ...headers,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-protocol': `ddev-lab.v1, ddev-lab.token.${token}`,
      },
    });
    request.once('upgrade', (response, socket) => {
      socket.destroy();
      resolve({ status: response.statusCode ?? 0, body: '' });
    });
    request.once('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.once('error', reject);
    request.end();
  });
}

describe('hostile clients', () => {
  const instance = uniqueInstance('sec-client');
  let server: RunningServer;

  before(async () => {
    server = await startLabServer({
      instance,
      env: { LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '1000', LAB_MAX_SESSIONS: '200' },
    });
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  test('terminal without the token', async () => {
    const session = await startSession(server);

    await assert.rejects(TestTerminal.open(server.url, session.sessionId, 'A'.repeat(43)), {
      status: 401,
    });
    await assert.rejects(TestTerminal.open(server.url, session.sessionId, ''), { status: 401 });
  });

  test('terminal from a foreign origin', async () => {
    const session = await startSession(server);

    await assert.rejects(
      TestTerminal.open(
        server.url,
        session.sessionId,
        session.token,
        'web',
        'https://attacker.invalid',
      ),
      { status: 403 },
    );
  });

  test('foreign host name is misdirected', async () => {
    const session = await startSession(server);
    const { port } = new URL(server.url);
    const evil = { host: `evil.example:${port}`, origin: `http://evil.example:${port}` };
    const terminalPath = `/ws/sessions/${session.sessionId}/terminals/web`;
    await using named = await startLabServer({
      instance: `${instance}-h`,
      env: { LAB_ALLOWED_HOSTS: 'lab.example.test' },
    });

    const api = await rawRequest(server.url, '/api/labs', evil);
    const site = await rawRequest(server.url, '/', evil);
    const upgrade = await rawUpgrade(server.url, terminalPath, session.token, evil);
    const local = await rawRequest(server.url, '/api/labs', { host: `localhost:${port}` });
    const localUpgrade = await rawUpgrade(server.url, terminalPath, session.token, {
      host: `localhost:${port}`,
      origin: `http://localhost:${port}`,
    });
    const proxied = await rawRequest(named.url, '/api/labs', { host: 'lab.example.test' });

    assert.equal(api.status, 421, api.body);
    assert.match(JSON.parse(api.body).message, /LAB_ALLOWED_HOSTS/);
    assert.equal(site.status, 421);
    assert.equal(upgrade.status, 421, upgrade.body);
    assert.match(JSON.parse(upgrade.body).message, /LAB_ALLOWED_HOSTS/);
    assert.equal(local.status, 200, local.body);
    assert.equal(localUpgrade.status, 101, localUpgrade.body);
    assert.equal(proxied.status, 200, proxied.body);
  });

  test('check without the token', async () => {
    const session = await startSession(server);

    const response = await fetch(
      `${server.url}/api/sessions/${session.sessionId}/steps/pid-one/check`,
      { method: 'POST' },
    );

    assert.equal(response.status, 401);
    assert.match((await response.json()).message, /token is missing or wrong/);
  });

  test('oversized request body', async () => {
    const response = await fetch(`${server.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labId: LAB, padding: 'x'.repeat(64 * 1024) }),
    });

    assert.equal(response.status, 413);
    assert.equal(typeof (await response.json()).message, 'string');
  });

  test('malformed frame never reaches the shell', async () => {
    const session = await startSession(server);
    await using terminal = await TestTerminal.open(server.url, session.sessionId, session.token);

    terminal.socket.send(Buffer.from([0x03, 0, 80]));
    terminal.socket.send('echo text-frame-ran\r');
    terminal.type('echo $((2*21))-ok\r');
    await terminal.waitFor(/^42-ok\r?$/m);

    assert.doesNotMatch(terminal.output(), /text-frame-ran\r?\n/);
    assert.ok(terminal.statuses.some((status) => /Rejected a frame/.test(status)));
  });

  test('session starts are rate limited', async () => {
    await using limited = await startLabServer({
      instance: `${instance}-r`,
      env: { LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '2' },
    });
    try {
      await startSession(limited);
      await startSession(limited);

      const third = await fetch(`${limited.url}/api/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ labId: LAB }),
      });

      assert.equal(third.status, 429);
      assert.ok(Number(third.headers.get('retry-after')) > 0);
      assert.match((await third.json()).message, /Try again in \d+ seconds/);
    } finally {
      await removeInstance(`${instance}-r`);
    }
  });

  test('live sessions per address are capped', async () => {
    const capInstance = `${instance}-a`;
    const labsDir = await mkdtemp(path.join(tmpdir(), 'ddev-lab-cap-'));
    await writeFile(path.join(labsDir, `${CHURN_LAB}.yaml`), stringify(churnLab()));
    await using capped = await startLabServer({
      instance: capInstance,
      env: {
        LAB_LABS_DIR: labsDir,
        LAB_SESSIONS_PER_CLIENT: '2',
        LAB_INSTRUCTOR_TOKEN: INSTRUCTOR_TOKEN,
        LAB_DATABASE: ':memory:',
      },
    });
    try {
      const first = await startSession(capped, CHURN_LAB);
      const second = await startSession(capped, CHURN_LAB);
      const third = await postSession(capped, CHURN_LAB, { 'x-forwarded-for': '203.0.113.7' });
      const reset = await fetch(`${capped.url}/api/sessions/${first.sessionId}/reset`, {
        method: 'POST',
        headers: { authorization: `Bearer ${first.token}` },
      });
      const fresh = (await reset.json()) as StartedSession;
      await stopSession(capped, second);
      const afterStop = await postSession(capped, CHURN_LAB);
      const full = await postSession(capped, CHURN_LAB);
      const trainingLearner = await joinTraining(capped, CHURN_LAB);
      const trainingSession = await postSession(capped, CHURN_LAB, { cookie: trainingLearner });

      assert.equal(third.status, 429);
      assert.match(
        String(third.body.message),
        /This address already runs 2 lab sessions, the most allowed at once \(2\)\./,
      );
      assert.match(
        String(third.body.message),
        /Stop one on its lab page.*sessions also end on their own .*minutes without activity/,
      );
      assert.equal(reset.status, 201);
      assert.notEqual(fresh.sessionId, first.sessionId);
      assert.equal(afterStop.status, 201, JSON.stringify(afterStop.body));
      assert.equal(full.status, 429);
      assert.equal(trainingSession.status, 201, JSON.stringify(trainingSession.body));
      await assertServes(capped);
    } finally {
      await removeInstance(capInstance);
      await rm(labsDir, { recursive: true, force: true });
    }
  });

  test('trusted proxy names the client', async () => {
    const proxyInstance = `${instance}-p`;
    const labsDir = await mkdtemp(path.join(tmpdir(), 'ddev-lab-proxy-'));
    await writeFile(path.join(labsDir, `${CHURN_LAB}.yaml`), stringify(churnLab()));
    await using proxied = await startLabServer({
      instance: proxyInstance,
      // Trusting a proxy makes the runc and disk checks strict, which this engine may not pass.
      env: {
        LAB_LABS_DIR: labsDir,
        LAB_SESSIONS_PER_CLIENT: '1',
        LAB_TRUST_PROXY: 'loopback',
        LAB_RUNC_POLICY: 'learner',
        LAB_DISK_POLICY: 'measured',
      },
    });
    try {
      const ada = await postSession(proxied, CHURN_LAB, { 'x-forwarded-for': '203.0.113.7' });
      const adaAgain = await postSession(proxied, CHURN_LAB, { 'x-forwarded-for': '203.0.113.7' });
      const grace = await postSession(proxied, CHURN_LAB, { 'x-forwarded-for': '203.0.113.8' });
      const forged = await postSession(proxied, CHURN_LAB, {
        'x-forwarded-for': '198.51.100.1, 203.0.113.8',
      });

      assert.equal(ada.status, 201, JSON.stringify(ada.body));
      assert.equal(adaAgain.status, 429);
      assert.equal(grace.status, 201, JSON.stringify(grace.body));
      assert.equal(forged.status, 429);
    } finally {
      await removeInstance(proxyInstance);
      await rm(labsDir, { recursive: true, force: true });
    }
  });

  test('100 sessions leave nothing behind', async () => {
    const churnInstance = `${instance}-c`;
    const labsDir = await mkdtemp(path.join(tmpdir(), 'ddev-lab-churn-'));
    await writeFile(path.join(labsDir, `${CHURN_LAB}.yaml`), stringify(churnLab()));
    await using churn = await startLabServer({
      instance: churnInstance,
      env: {
        LAB_LABS_DIR: labsDir,
        LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '1000',
        LAB_MAX_SESSIONS: '200',
      },
    });
    try {
      for (let round = 0; round < 25; round += 1) {
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            const session = await startSession(churn, CHURN_LAB);
            await stopSession(churn, session);
          }),
        );
      }

      const left = await listManaged(churnInstance);
      assert.equal(left.containers.length, 0);
      assert.equal(left.networks.length, 0);
      await assertServes(churn);
    } finally {
      await removeInstance(churnInstance);
      await rm(labsDir, { recursive: true, force: true });
    }
  });
});

describe('hostile builds and proxy', () => {
  const instance = uniqueInstance('sec-build');
  let server: RunningServer;

  before(async () => {
    server = await startLabServer({
      instance,
      env: { LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '1000' },
    });
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  /** Writes a web-build fragment in the session's web container and returns the Restart's last event. */
  async function restartWith(session: StartedSession, fragment: string, name: string) {
    const id = await webContainer(instance, session.sessionId);
    const encoded = Buffer.from(fragment).toString('base64');
    const write = await execIn(
      id,
      `mkdir -p /var/www/html/.ddev/web-build && printf 'name: hostile\\n' > /var/www/html/.ddev/config.yaml && echo ${encoded} | base64 -d > /var/www/html/.ddev/web-build/${name}`,
      'ddev',
    );
    assert.equal(write.exitCode, 0, write.output);

    const response = await fetch(`${server.url}/api/sessions/${session.sessionId}/restart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.token}` },
    });
    const events = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; error?: string; message?: string });
    return events.at(-1)!;
  }

  test('restart refuses ADD from a URL', async () => {
    const session = await startSession(server, 'extending-the-web-image');
    let contacted = false;
    const listener: Server = createServer((socket) => {
      contacted = true;
      socket.end();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const port = (listener.address() as { port: number }).port;

    try {
      const last = await restartWith(
        session,
        `ADD http://127.0.0.1:${port}/secret /tmp/secret\n`,
        'Dockerfile.fetch',
      );

      assert.equal(last.type, 'error');
      assert.equal(last.error, 'RemoteSourceNotAllowed', last.message);
      assert.equal(contacted, false, 'the engine fetched the URL');
    } finally {
      listener.close();
    }
  });

  test('restart refuses a smuggled line', async () => {
    const session = await startSession(server, 'extending-the-web-image');

    const last = await restartWith(
      session,
      'RUN echo hi \\\f\nCOPY --from=lab-0000000000000000/secret /s /s\n',
      'Dockerfile.smuggle',
    );

    assert.equal(last.type, 'error');
    assert.equal(last.error, 'DockerfileNotPlain', last.message);
    assert.match(last.message ?? '', /U\+000c on line 1/);
  });

  test('web proxy drops origin-wide headers', async () => {
    const session = await startSession(server);
    const id = await webContainer(instance, session.sessionId);
    const page = [
      '<?php',
      "header('Service-Worker-Allowed: /');",
      'header(\'Clear-Site-Data: "cookies", "storage"\');',
      'header(\'NEL: {"report_to":"x","max_age":86400}\');',
      "header('Strict-Transport-Security: max-age=31536000');",
      "header('Link: </sw.js>; rel=serviceworker, </style.css>; rel=preload; as=style');",
      "header('X-Lab-Page: kept');",
      "echo 'headers-page';",
    ].join('\n');
    await execIn(
      id,
      `echo ${Buffer.from(page).toString('base64')} | base64 -d > /var/www/html/headers.php`,
      'ddev',
    );
    const url = `${server.url}/api/sessions/${session.sessionId}/web/nginx/headers.php`;
    const authorization = `Bearer ${session.token}`;

    const response = await fetch(url, { headers: { authorization } });
    const worker = await fetch(url, { headers: { authorization, 'service-worker': 'script' } });

    assert.equal(response.status, 200);
    assert.match(await response.text(), /headers-page/);
    assert.equal(
      response.headers.get('x-lab-page'),
      'kept',
      'the page did not send its headers, so the probe proves nothing',
    );
    for (const name of [
      'service-worker-allowed',
      'clear-site-data',
      'nel',
      'strict-transport-security',
    ]) {
      assert.equal(response.headers.get(name), null, name);
    }
    assert.equal(response.headers.get('link'), '</style.css>; rel=preload; as=style');
    assert.equal(worker.status, 403);
    assert.match((await worker.json()).message, /service worker/);
  });

  test('web proxy ignores the container tools', async () => {
    const victim = await startSession(server);
    const attacker = await startSession(server);
    const victimId = await webContainer(instance, victim.sessionId);
    const attackerId = await webContainer(instance, attacker.sessionId);
    const victimInfo = await docker.getContainer(victimId).inspect();
    const victimIp = Object.values(victimInfo.NetworkSettings.Networks)[0]!.IPAddress;
    await execIn(victimId, 'echo VICTIM-PAGE > /var/www/html/marker.txt', 'ddev');
    // As if a Restart had put a lying `hostname` first on the PATH of the attacker's container.
    await execIn(
      attackerId,
      `printf '#!/bin/sh\\necho ${victimIp}\\n' > /usr/local/bin/hostname && chmod 755 /usr/local/bin/hostname`,
    );

    const own = await fetch(`${server.url}/api/sessions/${victim.sessionId}/web/nginx/marker.txt`, {
      headers: { authorization: `Bearer ${victim.token}` },
    });
    const response = await fetch(
      `${server.url}/api/sessions/${attacker.sessionId}/web/nginx/marker.txt`,
      {
        headers: { authorization: `Bearer ${attacker.token}` },
      },
    );

    assert.match(
      await own.text(),
      /VICTIM-PAGE/,
      'the marker is not served, so the probe proves nothing',
    );
    assert.doesNotMatch(await response.text(), /VICTIM-PAGE/);
  });
});
