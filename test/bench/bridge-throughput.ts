// The terminal bridge alone, without Docker: a TerminalShell fed by a stream that produces output
// as fast as flow control lets it, sent through a real WebSocket on loopback to a client that
// acknowledges every frame. It shows what the bridge itself can carry, apart from the engine.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { pino } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';

import { TerminalConnection } from '../../lab-server/src/terminal/connection.ts';
import { decodeFrame, encodeFrame } from '../../lab-server/src/terminal/protocol.ts';
import { TerminalShell } from '../../lab-server/src/terminal/shell.ts';

/** Output in reads of the size a Docker exec stream delivers, until `total` bytes are out. */
class FloodStream extends Duplex {
  private produced = 0;
  private readonly chunk: Buffer;
  private readonly total: number;

  constructor(total: number, chunkBytes: number) {
    super();
    this.total = total;
    this.chunk = Buffer.alloc(chunkBytes, 'x');
  }

  override _read(): void {
    while (this.produced < this.total) {
      const size = Math.min(this.chunk.length, this.total - this.produced);
      this.produced += size;
      if (!this.push(Buffer.from(this.chunk.subarray(0, size)))) return;
    }
    this.push(null);
  }

  override _write(_chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    done();
  }
}

export interface BridgeFigures {
  megabytesPerSecond: number;
  heapGrowthMb: number;
}

/** Sends `megabytes` through the bridge in reads of `chunkBytes` and times it. */
export async function measureBridge(options: {
  megabytes: number;
  chunkBytes: number;
  bufferBytes: number;
}): Promise<BridgeFigures> {
  const total = options.megabytes * 1_000_000;
  const server: Server = createServer();
  const sockets = new WebSocketServer({ server });
  const log = pino({ level: 'silent' });

  sockets.on('connection', (socket) => {
    const stream = new FloodStream(total, options.chunkBytes);
    const shell = new TerminalShell({
      process: { stream, resize: async () => undefined, dispose: async () => undefined },
      settings: { graceMs: 60_000, bufferBytes: options.bufferBytes },
      log,
      onDisposed: () => undefined,
    });
    const connection = new TerminalConnection({ socket, shell, log, pingMs: 30_000 });
    shell.attach(connection, {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  try {
    const { port } = server.address() as AddressInfo;
    global.gc?.();
    const heapBefore = process.memoryUsage().rss;
    let heapPeak = heapBefore;
    const sampler = setInterval(
      () => (heapPeak = Math.max(heapPeak, process.memoryUsage().rss)),
      50,
    );

    const started = performance.now();
    await receiveAll(`ws://127.0.0.1:${port}/`, total);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);

    return {
      megabytesPerSecond: total / 1e6 / seconds,
      heapGrowthMb: (heapPeak - heapBefore) / 2 ** 20,
    };
  } finally {
    for (const client of sockets.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Reads OUTPUT frames until `total` bytes arrived, acknowledging each one at once. */
function receiveAll(url: string, total: number): Promise<void> {
  const socket = new WebSocket(url);
  let received = 0;
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (frame.type !== 'output') return;

      received += frame.data.length;
      socket.send(encodeFrame({ type: 'ack', offset: frame.offset + frame.data.length }));
      if (received < total) return;
      socket.close();
      resolve();
    });
  });
}
