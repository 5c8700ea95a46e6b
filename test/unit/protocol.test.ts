import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  decodeFrame,
  encodeFrame,
  FrameType,
  ProtocolError,
  type Frame,
} from '../../lab-server/src/terminal/protocol.ts';

const bytes = (...values: number[]) => new Uint8Array(values);

describe('terminal protocol', () => {
  const roundTrips: Frame[] = [
    { type: 'input', data: new TextEncoder().encode('echo $((6*7))\r') },
    { type: 'output', offset: 0, data: bytes(0x34, 0x32) },
    { type: 'output', offset: 2 ** 40 + 7, data: bytes(0xe2, 0x82) },
    { type: 'output', offset: 5, data: bytes() },
    { type: 'resize', cols: 132, rows: 43 },
    { type: 'resize', cols: 1, rows: 1000 },
    { type: 'ack', offset: Number.MAX_SAFE_INTEGER },
    { type: 'ping', data: bytes(1, 2, 3) },
    { type: 'pong', data: bytes() },
    { type: 'status', state: 'exited', message: 'The shell has exited. ✓' },
    { type: 'status', state: 'replaced', message: 'This terminal is now open in another tab.' },
    { type: 'attached', offset: 0, dropped: 0, shellId: 'abc' },
    { type: 'attached', offset: 2 ** 33, dropped: 4096, shellId: 'Zx_9-Q'.repeat(10) },
  ];

  for (const frame of roundTrips) {
    test(`round trip ${frame.type} ${JSON.stringify(frame).length}`, () => {
      const decoded = decodeFrame(encodeFrame(frame));

      assert.deepEqual(normalise(decoded), normalise(frame));
    });
  }

  test('type byte comes first', () => {
    const encoded = encodeFrame({ type: 'resize', cols: 80, rows: 24 });

    assert.equal(encoded[0], FrameType.resize);
    assert.deepEqual([...encoded], [0x03, 0, 80, 0, 24]);
  });

  test('attached layout', () => {
    const encoded = encodeFrame({ type: 'attached', offset: 258, dropped: 3, shellId: 'id' });

    assert.deepEqual(
      [...encoded],
      [0x08, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0x69, 0x64],
    );
  });

  test('output offset is big-endian', () => {
    const encoded = encodeFrame({ type: 'output', offset: 258, data: bytes(0x41) });

    assert.deepEqual([...encoded], [0x02, 0, 0, 0, 0, 0, 0, 1, 2, 0x41]);
  });

  const malformed: [string, Uint8Array, RegExp][] = [
    ['empty frame', bytes(), /empty frame/],
    ['unknown type', bytes(0x7f, 1), /unknown frame type 0x7f/],
    ['short resize', bytes(0x03, 0, 80, 0), /exactly 4/],
    ['long resize', bytes(0x03, 0, 80, 0, 24, 0), /exactly 4/],
    ['zero columns', bytes(0x03, 0, 0, 0, 24), /cols must be an integer from 1/],
    ['huge rows', bytes(0x03, 0, 80, 0xff, 0xff), /rows must be an integer from 1/],
    ['short ack', bytes(0x04, 0, 0, 0), /exactly 8/],
    ['short output', bytes(0x02, 0, 0), /at least 8/],
    ['oversized ping', new Uint8Array(40).fill(0x05, 0, 1), /ping payload exceeds 32/],
    ['status not json', bytes(0x07, 0x7b), /not UTF-8 JSON/],
    [
      'status unknown state',
      new Uint8Array([0x07, ...new TextEncoder().encode('{"state":"root","message":""}')]),
      /known "state"/,
    ],
    ['attached without shell id', new Uint8Array(17).fill(0x08, 0, 1), /at least 17/],
    [
      'attached with bad shell id',
      new Uint8Array([0x08, ...new Uint8Array(16), 0x20]),
      /invalid shell id/,
    ],
    [
      'offset past 2^53',
      bytes(0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
      /offset is too large/,
    ],
  ];

  for (const [name, frame, message] of malformed) {
    test(`rejects ${name}`, () => {
      assert.throws(
        () => decodeFrame(frame),
        (error: unknown) => error instanceof ProtocolError && message.test(error.message),
      );
    });
  }

  test('rejects bad shell id on encode', () => {
    assert.throws(
      () => encodeFrame({ type: 'attached', offset: 0, dropped: 0, shellId: 'a/b' }),
      ProtocolError,
    );
  });

  test('rejects negative offset on encode', () => {
    assert.throws(() => encodeFrame({ type: 'ack', offset: -1 }), ProtocolError);
  });
});

function normalise(frame: Frame): unknown {
  return JSON.parse(
    JSON.stringify(frame, (_key, value) => (value instanceof Uint8Array ? [...value] : value)),
  );
}
