import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';

import {
  decodeFrame,
  encodeOutputHeader,
  OUTPUT_HEADER_BYTES,
} from '../../lab-server/src/terminal/protocol.ts';
import { ReplayBuffer } from '../../lab-server/src/terminal/replay-buffer.ts';
import {
  MAX_FRAME_BYTES,
  TerminalShell,
  type ShellClient,
} from '../../lab-server/src/terminal/shell.ts';

class FakeStream extends Duplex {
  override _read(): void {}
  override _write(_chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    done();
  }
}

/** A client that can take a frame in pieces, and records which way each frame came. */
class PartsClient implements ShellClient {
  frames: { offset: number; bytes: Buffer; pieces: number }[] = [];
  sendAttached(): void {}
  sendOutput(offset: number, data: Uint8Array): void {
    this.frames.push({ offset, bytes: Buffer.from(data), pieces: 1 });
  }
  sendOutputParts(offset: number, parts: Uint8Array[]): void {
    this.frames.push({ offset, bytes: Buffer.concat(parts), pieces: parts.length });
  }
  replace(): void {}
  end(): void {}
}

function startShell() {
  const stream = new FakeStream();
  const shell = new TerminalShell({
    process: { stream, resize: async () => undefined, dispose: async () => undefined },
    settings: { graceMs: 60_000, bufferBytes: 1024 * 1024 },
    log: pino({ level: 'silent' }),
    onDisposed: () => undefined,
  });
  return { shell, stream };
}

const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms));

describe('terminal output in pieces', () => {
  test('views cover the range uncopied', () => {
    const buffer = new ReplayBuffer(100);
    const first = Buffer.from('abc');
    const second = Buffer.from('defg');
    buffer.append(first);
    buffer.append(second);

    const views = buffer.viewsFrom(2);

    assert.deepEqual(
      views.map((view) => view.toString()),
      ['c', 'defg'],
    );
    assert.equal(views[1]!.buffer, second.buffer);
    assert.deepEqual(buffer.viewsFrom(7), []);
  });

  test('large output goes in pieces', async () => {
    const { shell, stream } = startShell();
    const client = new PartsClient();
    shell.attach(client, {});
    const chunks = Array.from({ length: 20 }, (_unused, index) =>
      Buffer.alloc(8 * 1024, 97 + index),
    );

    for (const chunk of chunks) stream.push(chunk);
    await tick();

    const sent = Buffer.concat(client.frames.map((frame) => frame.bytes));
    assert.deepEqual(sent, Buffer.concat(chunks));
    assert.ok(client.frames.every((frame) => frame.bytes.length <= MAX_FRAME_BYTES));
    assert.ok(
      client.frames.some((frame) => frame.pieces > 1),
      'no frame was sent in pieces',
    );
    assert.deepEqual(
      client.frames.map((frame) => frame.offset),
      client.frames.map((_frame, index) =>
        client.frames.slice(0, index).reduce((sum, earlier) => sum + earlier.bytes.length, 0),
      ),
    );
    await shell.dispose('closed', 'done');
  });

  test('small output is joined', async () => {
    const { shell, stream } = startShell();
    const client = new PartsClient();
    shell.attach(client, {});

    stream.push(Buffer.from('one '));
    stream.push(Buffer.from('two'));
    await tick();

    assert.deepEqual(
      client.frames.map((frame) => [frame.bytes.toString(), frame.pieces]),
      [['one two', 1]],
    );
    await shell.dispose('closed', 'done');
  });

  test('header decodes with the data after it', () => {
    const header = encodeOutputHeader(1234);

    const frame = decodeFrame(new Uint8Array([...header, ...Buffer.from('xyz')]));

    assert.equal(header.length, OUTPUT_HEADER_BYTES);
    assert.equal(frame.type, 'output');
    assert.equal(frame.type === 'output' && frame.offset, 1234);
    assert.equal(frame.type === 'output' && Buffer.from(frame.data).toString(), 'xyz');
  });
});
