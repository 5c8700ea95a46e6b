// A read-only view of a learner's terminal for the instructor: a WebSocket that receives the
// shell's output and sends nothing back to it. It holds no reference to the shell's input, so
// no frame from the viewer can reach the shell; INPUT and RESIZE frames are answered with a
// status and dropped. The viewer never slows the learner down: it takes no part in the flow
// control, and output it cannot keep up with is skipped rather than buffered.
import type { WebSocket } from 'ws';

import type { Logger } from '../log.ts';
import { decodeFrame, encodeFrame, ProtocolError, type Frame } from './protocol.ts';

/** Output queued on the viewer's socket beyond this is skipped until the socket drains. */
const MAX_QUEUED_BYTES = 1024 * 1024;

export class ReadOnlyViewer {
  private offset = 0;
  private skipped = 0;
  private warned = false;
  private readonly pingTimer: NodeJS.Timeout;

  private readonly socket: WebSocket;
  private readonly log: Logger;

  constructor(options: {
    socket: WebSocket;
    log: Logger;
    shellId: string;
    recent: Buffer;
    pingMs: number;
    onClose: () => void;
  }) {
    this.socket = options.socket;
    this.log = options.log;

    this.socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    this.socket.on('close', () => {
      clearInterval(this.pingTimer);
      options.onClose();
      this.log.info({ skipped: this.skipped }, 'read-only view closed');
    });
    this.socket.on('error', (error) =>
      this.log.warn({ err: error }, 'read-only view socket failed'),
    );
    this.pingTimer = setInterval(
      () => this.send({ type: 'ping', data: new Uint8Array(0) }),
      options.pingMs,
    );
    this.pingTimer.unref();

    this.send({ type: 'attached', offset: 0, dropped: 0, shellId: options.shellId });
    this.send({ type: 'status', state: 'ready', message: 'read-only view' });
    this.output(options.recent);
  }

  /** Sends shell output, or skips it while the viewer's socket is backed up. */
  output(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.socket.bufferedAmount > MAX_QUEUED_BYTES) {
      this.skipped += chunk.length;
      return;
    }

    this.send({ type: 'output', offset: this.offset, data: chunk });
    this.offset += chunk.length;
  }

  end(message: string): void {
    this.send({ type: 'status', state: 'closed', message });
    this.socket.close(1000, 'closed');
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (!isBinary) return;

    let frame: Frame;
    try {
      frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return;
    }

    if (frame.type === 'ping') this.send({ type: 'pong', data: frame.data });
    if ((frame.type === 'input' || frame.type === 'resize') && !this.warned) {
      this.warned = true;
      this.send({
        type: 'status',
        state: 'error',
        message: "This view is read-only: nothing typed here reaches the learner's shell.",
      });
    }
  }

  private send(frame: Frame): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(encodeFrame(frame), { binary: true });
  }
}
