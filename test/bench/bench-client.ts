// A lean terminal client for the benchmark: it counts output, keeps a short tail, acknowledges
// everything at once, and timestamps the first output byte.
import WebSocket from 'ws';

import { decodeFrame, encodeFrame } from '../../lab-server/src/terminal/protocol.ts';

export interface BenchSession {
  sessionId: string;
  token: string;
}

export class BenchTerminal {
  bytes = 0;
  firstOutputAt: number | undefined;
  private tail = '';
  private waiters: { pattern: RegExp; resolve: (at: number) => void }[] = [];
  readonly socket: WebSocket;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: Buffer) => this.receive(data));
  }

  static open(baseUrl: string, session: BenchSession, terminalId: string): Promise<BenchTerminal> {
    const url = `${baseUrl.replace(/^http/, 'ws')}/ws/sessions/${session.sessionId}/terminals/${terminalId}?cols=120&rows=40`;
    const socket = new WebSocket(url, ['ddev-lab.v1', `ddev-lab.token.${session.token}`], {
      origin: baseUrl,
    });
    const terminal = new BenchTerminal(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(terminal));
      socket.once('error', reject);
    });
  }

  private receive(data: Buffer): void {
    const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (frame.type !== 'output' || frame.data.length === 0) return;

    const now = performance.now();
    this.firstOutputAt ??= now;
    this.bytes += frame.data.length;
    this.tail = (this.tail + Buffer.from(frame.data).toString('latin1')).slice(-8192);
    this.socket.send(encodeFrame({ type: 'ack', offset: frame.offset + frame.data.length }));

    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.pattern.test(this.tail)) return true;
      waiter.resolve(now);
      return false;
    });
  }

  type(text: string): void {
    this.socket.send(encodeFrame({ type: 'input', data: new TextEncoder().encode(text) }));
  }

  clearTail(): void {
    this.tail = '';
  }

  /** Resolves with the time the output first matched, or rejects after the timeout. */
  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<number> {
    if (pattern.test(this.tail)) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; tail: ${this.tail.slice(-200)}`)),
        timeoutMs,
      );
      this.waiters.push({ pattern, resolve: (at) => (clearTimeout(timer), resolve(at)) });
    });
  }

  close(): void {
    this.socket.close(1000);
  }
}
