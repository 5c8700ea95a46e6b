import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';

import type { TerminalState } from '../../lab-server/src/terminal/protocol.ts';
import { ReplayBuffer } from '../../lab-server/src/terminal/replay-buffer.ts';
import {
  flowLimits,
  MAX_INPUT_BACKLOG_BYTES,
  TerminalShell,
  type ShellClient,
} from '../../lab-server/src/terminal/shell.ts';

const BUFFER_BYTES = 256 * 1024;

/** The exec's TTY stream: the test pushes output, and input written by the shell is kept. */
class FakeStream extends Duplex {
  readonly inputs: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.inputs.push(chunk);
    done();
  }
}

class FakeClient implements ShellClient {
  attached: { offset: number; dropped: number; shellId: string } | undefined;
  output: Buffer[] = [];
  events: string[] = [];
  sendAttached(offset: number, dropped: number, shellId: string): void {
    this.attached = { offset, dropped, shellId };
  }
  sendOutput(_offset: number, data: Uint8Array): void {
    this.output.push(Buffer.from(data));
  }
  replace(): void {
    this.events.push('replaced');
  }
  end(state: TerminalState): void {
    this.events.push(state);
  }
  get received(): number {
    return this.attached!.offset + this.output.reduce((sum, chunk) => sum + chunk.length, 0);
  }
}

function startShell(
  graceMs = 60_000,
  resize: (cols: number, rows: number) => Promise<void> = async () => undefined,
) {
  const stream = new FakeStream();
  const disposed: string[] = [];
  const shell = new TerminalShell({
    process: { stream, resize, dispose: async () => void disposed.push('process') },
    settings: { graceMs, bufferBytes: BUFFER_BYTES },
    log: pino({ level: 'silent' }),
    onDisposed: () => disposed.push('registry'),
  });
  return { shell, stream, disposed };
}

const tick = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));

describe('replay buffer', () => {
  test('keeps the newest bytes', () => {
    const buffer = new ReplayBuffer(10);

    buffer.append(Buffer.from('abcdef'));
    buffer.append(Buffer.from('ghijkl'));

    assert.equal(buffer.end, 12);
    assert.equal(buffer.start, 2);
    assert.equal(buffer.readFrom(0).toString(), 'cdefghijkl');
    assert.equal(buffer.readFrom(7).toString(), 'hijkl');
    assert.equal(buffer.readFrom(12).length, 0);
  });

  test('reads across chunk edges', () => {
    const buffer = new ReplayBuffer(100);
    for (const part of ['ab', 'cd', 'ef']) buffer.append(Buffer.from(part));

    assert.equal(buffer.readFrom(1).toString(), 'bcdef');
    assert.equal(buffer.readFrom(3).toString(), 'def');
  });
});

describe('terminal shell', () => {
  test('flow limits leave room for one read', () => {
    const limits = flowLimits(BUFFER_BYTES);

    assert.equal(limits.highWaterBytes, BUFFER_BYTES - 64 * 1024);
    assert.ok(limits.lowWaterBytes < limits.highWaterBytes);
  });

  test('resume sends exactly the missed bytes', async () => {
    const { shell, stream } = startShell();
    const first = new FakeClient();
    shell.attach(first, {});
    stream.push(Buffer.from('hello '));
    await tick();
    shell.detach(first);
    stream.push(Buffer.from('world'));
    await tick();

    const second = new FakeClient();
    shell.attach(second, { shellId: shell.id, offset: 6 });
    await tick();

    assert.deepEqual(second.attached, { offset: 6, dropped: 0, shellId: shell.id });
    assert.equal(Buffer.concat(second.output).toString(), 'world');
    await shell.dispose('closed', 'test over');
  });

  test('unknown shell id gets the whole buffer', async () => {
    const { shell, stream } = startShell();
    stream.push(Buffer.from('history'));
    await tick();

    const client = new FakeClient();
    shell.attach(client, { shellId: 'another-shell', offset: 3 });

    assert.deepEqual(client.attached, { offset: 0, dropped: 0, shellId: shell.id });
    assert.equal(Buffer.concat(client.output).toString(), 'history');
    await shell.dispose('closed', 'test over');
  });

  test('evicted bytes are reported dropped', async () => {
    const { shell, stream } = startShell();
    const first = new FakeClient();
    shell.attach(first, {});
    for (let i = 0; i < 6; i += 1) {
      stream.push(Buffer.alloc(64 * 1024, 0x61));
      await tick();
      shell.acknowledge(first, first.received);
    }

    const second = new FakeClient();
    shell.attach(second, { shellId: shell.id, offset: 1000 });

    assert.equal(second.attached!.offset, 6 * 64 * 1024 - BUFFER_BYTES);
    assert.equal(second.attached!.dropped, second.attached!.offset - 1000);
    await shell.dispose('closed', 'test over');
  });

  test('pauses above high water, resumes below low', async () => {
    const { shell, stream } = startShell();
    const client = new FakeClient();
    shell.attach(client, {});
    const limits = flowLimits(BUFFER_BYTES);

    let pushed = 0;
    while (!stream.isPaused()) {
      stream.push(Buffer.alloc(16 * 1024, 0x62));
      pushed += 16 * 1024;
      await tick(1);
    }
    await tick();
    const pausedAt = client.received;
    shell.acknowledge(client, pausedAt - limits.lowWaterBytes);
    const stillPaused = stream.isPaused();
    shell.acknowledge(client, pausedAt - limits.lowWaterBytes + 1);

    assert.equal(pausedAt, pushed);
    assert.ok(pausedAt > limits.highWaterBytes);
    assert.ok(pausedAt <= BUFFER_BYTES);
    assert.equal(stillPaused, true);
    assert.equal(stream.isPaused(), false);
    await shell.dispose('closed', 'test over');
  });

  test('second attach replaces the first', async () => {
    const { shell, stream } = startShell();
    const first = new FakeClient();
    const second = new FakeClient();
    shell.attach(first, {});

    shell.attach(second, { shellId: shell.id, offset: 0 });
    shell.input(first, Buffer.from('ignored'));
    shell.input(second, Buffer.from('typed'));

    assert.deepEqual(first.events, ['replaced']);
    assert.deepEqual(stream.inputs.map(String), ['typed']);
    await shell.dispose('closed', 'test over');
  });

  test('grace period ends a detached shell', async () => {
    const { shell, disposed } = startShell(20);
    const client = new FakeClient();
    shell.attach(client, {});

    shell.detach(client);
    await tick(60);

    assert.equal(shell.isDisposed, true);
    assert.deepEqual(disposed, ['registry', 'process']);
  });

  test('exit tells the attached page', async () => {
    const { shell, stream } = startShell();
    const client = new FakeClient();
    shell.attach(client, {});

    stream.push(Buffer.from('logout\r\n'));
    stream.push(null);
    await tick();

    assert.equal(Buffer.concat(client.output).toString(), 'logout\r\n');
    assert.deepEqual(client.events, ['exited']);
  });
});

describe('terminal shell resize', () => {
  test('input waits for a pending resize', async () => {
    let finishResize: () => void = () => undefined;
    const sizes: string[] = [];
    const { shell, stream } = startShell(60_000, (cols, rows) => {
      sizes.push(`${cols}x${rows}`);
      return new Promise((resolve) => (finishResize = resolve));
    });
    const client = new FakeClient();
    shell.attach(client, {});

    shell.resize(client, 90, 30);
    shell.input(client, Buffer.from('stty size\r'));
    shell.input(client, Buffer.from('ls\r'));
    await tick();
    assert.deepEqual(sizes, ['90x30']);
    assert.equal(stream.inputs.length, 0);

    finishResize();
    await tick();
    assert.equal(Buffer.concat(stream.inputs).toString(), 'stty size\rls\r');

    shell.input(client, Buffer.from('pwd\r'));
    assert.equal(Buffer.concat(stream.inputs).toString(), 'stty size\rls\rpwd\r');
    await shell.dispose('closed', 'test over');
  });

  test('resize storm makes one call at a time', async () => {
    const finishers: Array<() => void> = [];
    const sizes: string[] = [];
    const { shell, stream } = startShell(60_000, (cols, rows) => {
      sizes.push(`${cols}x${rows}`);
      return new Promise((resolve) => finishers.push(resolve));
    });
    const client = new FakeClient();
    shell.attach(client, {});

    for (let cols = 80; cols < 200; cols += 1) shell.resize(client, cols, 24);
    shell.input(client, Buffer.from('ls\r'));
    await tick();
    assert.deepEqual(sizes, ['80x24']);

    finishers.shift()!();
    await tick();
    assert.deepEqual(sizes, ['80x24', '199x24']);
    assert.equal(stream.inputs.length, 0);

    finishers.shift()!();
    await tick();
    assert.equal(Buffer.concat(stream.inputs).toString(), 'ls\r');
    await shell.dispose('closed', 'test over');
  });

  test('input over the backlog is dropped', async () => {
    const { shell } = startShell(60_000, () => new Promise(() => undefined));
    const client = new FakeClient();
    shell.attach(client, {});
    shell.resize(client, 90, 30);

    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const accepted = [1, 2, 3, 4, 5].map(() => shell.input(client, chunk));

    assert.deepEqual(accepted, [true, true, true, true, false]);
    assert.ok(MAX_INPUT_BACKLOG_BYTES >= 4 * chunk.length);
    await shell.dispose('closed', 'test over');
  });

  test('failed resize releases held input', async () => {
    const { shell, stream } = startShell(60_000, async () => {
      throw new Error('engine gone');
    });
    const client = new FakeClient();
    shell.attach(client, {});

    shell.resize(client, 100, 40);
    shell.input(client, Buffer.from('echo hi\r'));
    await tick();

    assert.equal(Buffer.concat(stream.inputs).toString(), 'echo hi\r');
    await shell.dispose('closed', 'test over');
  });
});
