// The terminal protocol against a real lab server and real Docker: replay after a dropped
// socket, flow control under a flood, Ctrl-C, takeover, keepalive, and shells that really end.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';

import { docker, listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { TestTerminal } from '../helpers/terminal-client.ts';
import { LABELS } from '../../lab-server/src/sandbox/labels.ts';
import { startSession, type StartedSession } from '../helpers/sessions.ts';

const BUFFER_BYTES = 512 * 1024;
/** Seconds of flood in the memory test; set TERMINAL_FLOOD_SECONDS=60 for the full minute. */
const FLOOD_SECONDS = Number(process.env.TERMINAL_FLOOD_SECONDS ?? 15);
/**
 * Growth of the lab server's resident memory allowed during a flood. V8 frees the frames' backing
 * stores only when it collects garbage, so RSS swings by tens of MiB even when nothing is kept.
 * A server that read the exec without a bound would grow by its read rate (about 30 MB/s for
 * `yes` on the 2-core test machine) for the whole flood, far past this.
 */
const FLOOD_RSS_BOUND_BYTES = 96 * 1024 * 1024;

function open(
  server: RunningServer,
  session: StartedSession,
  options: Parameters<typeof TestTerminal.open>[3] = {},
) {
  return TestTerminal.open(server.url, session.sessionId, session.token, options);
}

/** Runs `ps` in the web container and returns the command names of the processes of `user`. */
async function processes(
  server: RunningServer,
  session: StartedSession,
  user = 'ddev',
): Promise<string[]> {
  const { containers } = await listManaged(server.instance, session.sessionId);
  const web = containers.find((container) => container.Labels[LABELS.service] === 'web');
  assert.ok(web, 'the session has no container for the service "web"');
  const exec = await docker.getContainer(web.Id).exec({
    Cmd: ['ps', '-u', user, '-o', 'comm='],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  let text = '';
  const sink = new PassThrough().on('data', (chunk: Buffer) => (text += chunk));
  docker.modem.demuxStream(stream, sink, new PassThrough().resume());
  await new Promise((resolve) => stream.on('end', resolve));
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(
  condition: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(100);
  }
  assert.fail(`${what} did not happen within ${timeoutMs} ms`);
}

/** Waits until no output has arrived for `quietMs`, and returns when the last output came. */
async function waitForQuiet(
  terminal: TestTerminal,
  quietMs: number,
  timeoutMs = 30_000,
): Promise<number> {
  await waitUntil(() => Date.now() - terminal.lastOutputAt >= quietMs, 'quiet output', timeoutMs);
  return terminal.lastOutputAt;
}

describe('terminal on Docker', () => {
  const instance = uniqueInstance('it-terminal');
  let server: RunningServer;

  before(async () => {
    server = await startLabServer({ instance });
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  test('shell starts at page size', async () => {
    const session = await startSession(server);
    await using terminal = await open(server, session, { cols: 101, rows: 33 });

    terminal.type('stty size\r');

    await terminal.waitFor(/^33 101\r?$/m);
  });

  test('replay after dropped socket', async () => {
    const session = await startSession(server);
    const first = await open(server, session);
    first.type('for i in $(seq 1 30); do echo line-$i; sleep 0.1; done; echo fin-$((40+2))\r');
    await first.waitFor(/^line-3\r?$/m);

    first.drop();
    await sleep(1000);
    await using second = await open(server, session, {
      resume: { shellId: first.attached!.shellId, offset: first.received },
    });
    await second.waitFor(/^fin-42\r?$/m);

    assert.equal(second.attached!.shellId, first.attached!.shellId);
    assert.equal(second.attached!.offset, first.received);
    assert.equal(second.attached!.dropped, 0);
    const resumed = Buffer.concat([...first.bytes, ...second.bytes]).toString('latin1');
    for (let i = 1; i <= 30; i += 1) {
      assert.equal(
        resumed.match(new RegExp(`^line-${i}\\r?$`, 'gm'))?.length,
        1,
        `line-${i} once in:\n${resumed}`,
      );
    }

    // A page without an offset gets everything the buffer holds: the same bytes, exactly.
    await using fresh = await open(server, session);
    await waitUntil(() => fresh.received >= second.received, 'full replay');
    assert.equal(fresh.attached!.offset, 0);
    assert.deepEqual(Buffer.concat(fresh.bytes), Buffer.concat([...first.bytes, ...second.bytes]));
  });

  test('replay reports dropped bytes', async () => {
    const session = await startSession(server);
    const first = await open(server, session, { keepChars: 4096 });
    first.type('seq 1 300000; echo counted-$((2*3))\r');
    await first.waitFor(/^counted-6\r?$/m, 60_000);
    first.drop();

    await using second = await open(server, session, {
      resume: { shellId: first.attached!.shellId, offset: 100 },
    });
    await waitUntil(() => second.received >= first.received, 'replay of the buffer');

    assert.ok(second.attached!.offset > 100);
    assert.equal(second.attached!.dropped, second.attached!.offset - 100);
    assert.ok(first.received - second.attached!.offset <= BUFFER_BYTES);
    assert.match(second.statuses.join('\n'), /ready: resumed with a gap/);
  });

  test('second client takes over', async () => {
    const session = await startSession(server);
    await using first = await open(server, session);
    first.type('echo first-$((1+1))\r');
    await first.waitFor(/^first-2\r?$/m);

    await using second = await open(server, session, { cols: 90, rows: 30 });
    const code = await first.closed();
    // Input typed during the takeover's resize waits for it, so stty prints the new size.
    second.type('echo second-$((2+2)); stty size\r');
    await second.waitFor(/^second-4\r?$/m);
    await second.waitFor(/^30 90\r?$/m);

    assert.equal(code, 4001);
    assert.match(first.statuses.join('\n'), /^replaced: This terminal is now open in another tab/m);
    assert.equal(second.attached!.shellId, first.attached!.shellId);
    assert.match(second.output(), /first-2/);
  });

  test('input the shell does not read is dropped', async () => {
    const session = await startSession(server);
    await using terminal = await open(server, session);
    terminal.type('echo before-$((5+5)); sleep 20\r');
    await terminal.waitFor(/^before-10\r?$/m);

    // sleep reads no input, so after the TTY's buffers fill the rest waits in the server.
    const chunk = new Uint8Array(60 * 1024).fill(0x61);
    for (let index = 0; index < 40; index += 1) terminal.send({ type: 'input', data: chunk });
    await waitUntil(
      () => terminal.statuses.some((status) => status.includes('Input was dropped')),
      'the input-dropped notice',
    );

    assert.equal(
      terminal.statuses.filter((status) => status.includes('Input was dropped')).length,
      1,
    );
  });

  test('flood to slow client stays bounded', async (t) => {
    const session = await startSession(server);
    await using terminal = await open(server, session, { ackMode: 'manual', keepChars: 4096 });
    terminal.type('echo ready-$((3+4))\r');
    await terminal.waitFor(/ready-7/);
    terminal.ack();
    const pid = server.process.pid!;
    const baseline = await residentBytes(pid);

    terminal.type('cat /dev/urandom | base64\r');
    const samples: number[] = [];
    let maxUnacknowledged = 0;
    let acknowledged = terminal.received;
    const started = Date.now();
    while (Date.now() - started < FLOOD_SECONDS * 1000) {
      // A slow page: it processes what it has only four times a second.
      await sleep(250);
      maxUnacknowledged = Math.max(maxUnacknowledged, terminal.received - acknowledged);
      acknowledged = terminal.received;
      terminal.ack(acknowledged);
      samples.push(await residentBytes(pid));
    }
    const seconds = (Date.now() - started) / 1000;

    terminal.type('\x03');
    terminal.ack(terminal.received);
    const quietSince = Date.now();
    const flooded = terminal.received;
    await waitUntil(
      async () => {
        terminal.ack();
        return Date.now() - terminal.lastOutputAt > 1000;
      },
      'quiet after Ctrl-C',
      30_000,
    );

    t.diagnostic(
      `flood ${seconds.toFixed(0)} s: ${(flooded / 1e6).toFixed(1)} MB at ${(flooded / 1e6 / seconds).toFixed(2)} MB/s`,
    );
    const peak = Math.max(...samples);
    const quarters = [1, 2, 3, 4].map((quarter) =>
      mib(samples[Math.ceil((samples.length * quarter) / 4) - 1]!),
    );
    t.diagnostic(
      `server RSS baseline ${mib(baseline)} MiB, peak ${mib(peak)} MiB, at each quarter ${quarters.join(' / ')} MiB`,
    );
    t.diagnostic(
      `most unacknowledged bytes seen: ${maxUnacknowledged}; quiet ${terminal.lastOutputAt - quietSince} ms after Ctrl-C`,
    );
    assert.ok(maxUnacknowledged <= BUFFER_BYTES, `${maxUnacknowledged} unacknowledged bytes`);
    assert.ok(peak - baseline < FLOOD_RSS_BOUND_BYTES, `RSS grew by ${mib(peak - baseline)} MiB`);
  });

  test('ctrl-c after flood brings quiet', async (t) => {
    const session = await startSession(server);
    await using terminal = await open(server, session, { keepChars: 4096 });
    terminal.type('yes ddev-lab-flood\r');
    await terminal.waitFor(/ddev-lab-flood/);
    await sleep(5000);

    const interrupted = Date.now();
    terminal.type('\x03');
    const lastOutput = await waitForQuiet(terminal, 1500);
    terminal.type('echo after-$((5+5))\r');
    await terminal.waitFor(/^after-10\r?$/m);

    t.diagnostic(
      `quiet ${lastOutput - interrupted} ms after Ctrl-C (${(terminal.received / 1e6).toFixed(1)} MB flooded)`,
    );
    assert.ok(lastOutput >= interrupted);
  });

  test('reconnects leave one shell', async () => {
    const session = await startSession(server);
    let terminal = await open(server, session);
    terminal.type('echo start-$((1+2))\r');
    await terminal.waitFor(/start-3/);

    for (let round = 0; round < 12; round += 1) {
      const resume = { shellId: terminal.attached!.shellId, offset: terminal.received };
      if (round % 2 === 0) terminal.drop();
      terminal = await open(server, session, { resume });
    }
    terminal.type('echo end-$((2+3))\r');
    await terminal.waitFor(/end-5/);
    const names = await processes(server, session);
    await terminal[Symbol.asyncDispose]();

    assert.equal(names.filter((name) => name === 'bash').length, 1, names.join(' '));
  });

  test('session end closes terminals', async () => {
    const session = await startSession(server);
    await using terminal = await open(server, session);
    terminal.type('echo up-$((4+4))\r');
    await terminal.waitFor(/up-8/);

    await fetch(`${server.url}/api/sessions/${session.sessionId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${session.token}` },
    });
    const code = await terminal.closed();

    assert.equal(code, 1000);
    assert.match(terminal.statuses.join('\n'), /^closed: The lab session has ended/m);
  });
});

describe('terminal grace and keepalive', () => {
  const instance = uniqueInstance('it-terminal-grace');
  let server: RunningServer;

  before(async () => {
    server = await startLabServer({
      instance,
      env: { LAB_TERMINAL_GRACE_SECONDS: '1', LAB_TERMINAL_PING_SECONDS: '1' },
    });
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  test('shell ends after grace period', async () => {
    const session = await startSession(server);
    const first = await open(server, session);
    first.type('sleep 600 & echo started-$((3*3))\r');
    await first.waitFor(/started-9/);
    assert.ok((await processes(server, session)).includes('bash'));

    first.drop();
    await waitUntil(async () => {
      const names = await processes(server, session);
      return !names.includes('bash') && !names.includes('sleep');
    }, 'the shell and its children ending');
    await using second = await open(server, session, {
      resume: { shellId: first.attached!.shellId, offset: first.received },
    });
    second.type('echo again-$((3*4))\r');
    await second.waitFor(/again-12/);

    assert.notEqual(second.attached!.shellId, first.attached!.shellId);
    assert.equal(second.attached!.offset, 0);
    const names = await processes(server, session);
    assert.equal(names.filter((name) => name === 'bash').length, 1, names.join(' '));
    assert.ok(!names.includes('sleep'), names.join(' '));
  });

  test('server pings every second', async () => {
    const session = await startSession(server);
    await using terminal = await open(server, session);
    let pings = 0;
    terminal.socket.on('message', (data: Buffer) => {
      if (data[0] === 0x05) pings += 1;
    });

    await sleep(3500);

    assert.ok(pings >= 2, `${pings} pings`);
    assert.equal(terminal.closeCode, undefined);
  });
});

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
