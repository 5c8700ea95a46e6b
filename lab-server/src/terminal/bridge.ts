// Bridges one WebSocket to one `docker exec` TTY. Output is coalesced for a few milliseconds and
// sent as OUTPUT frames with byte offsets; the page acknowledges what it received, and the
// exec stream is paused while too much is unacknowledged, so a flood never piles up in memory.
import type { WebSocket } from 'ws';

import type { Logger } from '../log.ts';
import type { TerminalProcess } from '../sandbox/runtime.ts';
import { decodeFrame, encodeFrame, ProtocolError, type Frame, type TerminalState } from './protocol.ts';

export const FLOW = {
  /** Pause reading from the exec above this many unacknowledged bytes. */
  highWaterBytes: 1024 * 1024,
  /** Resume below this many. */
  lowWaterBytes: 256 * 1024,
  /** Output is gathered this long before it is sent, unless input just arrived. */
  coalesceMs: 4,
  /** Largest OUTPUT payload in one frame. */
  maxFrameBytes: 64 * 1024,
} as const;

export class TerminalBridge {
  private sent = 0;
  private acknowledged = 0;
  private paused = false;
  private pendingChunks: Buffer[] = [];
  private pendingBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private disposed = false;

  private readonly socket: WebSocket;
  private readonly process: TerminalProcess;
  private readonly log: Logger;

  constructor(socket: WebSocket, process: TerminalProcess, log: Logger) {
    this.socket = socket;
    this.process = process;
    this.log = log;

    process.stream.on('data', (chunk: Buffer) => this.queueOutput(chunk));
    process.stream.on('end', () => void this.close('exited', 'The shell has exited. Restart the terminal to get a new one.'));
    process.stream.on('error', (error) => {
      this.log.warn({ err: error }, 'terminal stream failed');
      void this.close('error', 'The connection to the container was lost.');
    });

    socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    socket.on('close', () => void this.dispose());
    socket.on('error', (error) => this.log.warn({ err: error }, 'terminal socket failed'));

    this.send({ type: 'status', state: 'ready', message: 'connected' });
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (!isBinary) {
      this.reject('text frames are not part of the terminal protocol');
      return;
    }

    let frame: Frame;
    try {
      frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.reject(error.message);
      return;
    }

    switch (frame.type) {
      case 'input':
        this.process.stream.write(frame.data);
        // Echo of a keystroke should not wait for the coalescing timer.
        this.flushSoon(0);
        break;
      case 'resize':
        this.process.resize(frame.cols, frame.rows).catch((error) => this.log.warn({ err: error }, 'resize failed'));
        break;
      case 'ack':
        this.acknowledge(frame.offset);
        break;
      case 'ping':
        this.send({ type: 'pong', data: frame.data });
        break;
      case 'pong':
        break;
      default:
        this.reject(`a page may not send ${frame.type} frames`);
    }
  }

  private reject(reason: string): void {
    this.log.warn({ reason }, 'terminal frame rejected');
    this.send({ type: 'status', state: 'error', message: `Rejected a frame: ${reason}.` });
  }

  private acknowledge(offset: number): void {
    if (offset > this.sent || offset < this.acknowledged) return;
    this.acknowledged = offset;
    if (this.paused && this.sent - this.acknowledged < FLOW.lowWaterBytes) {
      this.paused = false;
      this.process.stream.resume();
    }
  }

  private queueOutput(chunk: Buffer): void {
    this.pendingChunks.push(chunk);
    this.pendingBytes += chunk.length;

    if (this.pendingBytes >= FLOW.maxFrameBytes) this.flushSoon(0);
    else this.flushSoon(FLOW.coalesceMs);
  }

  private flushSoon(delayMs: number): void {
    if (this.flushTimer && delayMs > 0) return;
    clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => this.flush(), delayMs);
  }

  private flush(): void {
    this.flushTimer = undefined;
    if (this.pendingBytes === 0) return;

    const data = Buffer.concat(this.pendingChunks, this.pendingBytes);
    this.pendingChunks = [];
    this.pendingBytes = 0;

    for (let start = 0; start < data.length; start += FLOW.maxFrameBytes) {
      const part = data.subarray(start, start + FLOW.maxFrameBytes);
      this.send({ type: 'output', offset: this.sent, data: part });
      this.sent += part.length;
    }

    if (!this.paused && this.sent - this.acknowledged > FLOW.highWaterBytes) {
      this.paused = true;
      this.process.stream.pause();
    }
  }

  private send(frame: Frame): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(encodeFrame(frame), { binary: true });
  }

  async close(state: TerminalState, message: string): Promise<void> {
    this.flush();
    this.send({ type: 'status', state, message });
    this.socket.close(1000, state);
    await this.dispose();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.flushTimer);
    await this.process.dispose();
  }
}
