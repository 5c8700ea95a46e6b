// One WebSocket of the terminal protocol, attached to a TerminalShell. It decodes the page's
// frames, sends the shell's output, and pings the page so that idle proxies keep the socket open
// and a page that vanished without closing is noticed.
import type { WebSocket } from 'ws';

import type { Logger } from '../log.ts';
import {
  decodeFrame,
  encodeFrame,
  encodeOutputHeader,
  ProtocolError,
  type Frame,
  type TerminalState,
} from './protocol.ts';
import type { ShellClient, TerminalShell } from './shell.ts';

/** WebSocket close codes the page reads: 4001 replaced by another page, 4002 no pong. */
export const CLOSE_CODES = { normal: 1000, replaced: 4001, unresponsive: 4002 } as const;

export class TerminalConnection implements ShellClient {
  private lastHeard = Date.now();
  /** True after input was dropped, until the shell takes input again, so the page gets one notice. */
  private droppingInput = false;
  private readonly pingTimer: NodeJS.Timeout;

  private readonly socket: WebSocket;
  private readonly shell: TerminalShell;
  private readonly log: Logger;

  constructor(options: { socket: WebSocket; shell: TerminalShell; log: Logger; pingMs: number }) {
    this.socket = options.socket;
    this.shell = options.shell;
    this.log = options.log;

    this.socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    this.socket.on('close', (code) => {
      clearInterval(this.pingTimer);
      this.shell.detach(this);
      this.log.info({ code }, 'terminal socket closed');
    });
    this.socket.on('error', (error) => this.log.warn({ err: error }, 'terminal socket failed'));

    this.pingTimer = setInterval(() => this.ping(options.pingMs), options.pingMs);
    this.pingTimer.unref();
  }

  sendAttached(offset: number, dropped: number, shellId: string): void {
    this.send({ type: 'attached', offset, dropped, shellId });
    this.send({
      type: 'status',
      state: 'ready',
      message: dropped > 0 ? 'resumed with a gap' : 'connected',
    });
  }

  sendOutput(offset: number, data: Uint8Array): void {
    this.send({ type: 'output', offset, data });
  }

  /**
   * Sends one OUTPUT frame as a fragmented WebSocket message: the header, then each piece. The
   * page receives one message as usual; the pieces go to the socket without being copied. Nothing
   * else can come between the fragments, because they are all queued in this one call.
   */
  sendOutputParts(offset: number, parts: Uint8Array[]): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(encodeOutputHeader(offset), { binary: true, fin: false });
    parts.forEach((part, index) =>
      this.socket.send(part, { binary: true, fin: index === parts.length - 1 }),
    );
  }

  replace(): void {
    this.end(
      'replaced',
      'This terminal is now open in another tab or window.',
      CLOSE_CODES.replaced,
    );
  }

  end(state: TerminalState, message: string, code: number = CLOSE_CODES.normal): void {
    this.send({ type: 'status', state, message });
    this.socket.close(code, state);
  }

  private receive(data: Buffer, isBinary: boolean): void {
    this.lastHeard = Date.now();
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
    this.handle(frame);
  }

  private handle(frame: Frame): void {
    switch (frame.type) {
      case 'input':
        this.receiveInput(frame.data);
        break;
      case 'resize':
        this.shell.resize(this, frame.cols, frame.rows);
        break;
      case 'ack':
        this.shell.acknowledge(this, frame.offset);
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

  private receiveInput(data: Uint8Array): void {
    if (this.shell.input(this, data)) {
      this.droppingInput = false;
      return;
    }
    if (this.droppingInput) return;

    this.droppingInput = true;
    this.log.warn({ bytes: data.length }, 'terminal input dropped: the shell is not reading it');
    this.send({
      type: 'status',
      state: 'error',
      message:
        'Input was dropped: more than 256 KiB of typed or pasted text is already waiting for the shell to read it.',
    });
  }

  /** Sends a PING, or drops a socket that stayed silent through two pings. */
  private ping(pingMs: number): void {
    if (Date.now() - this.lastHeard > 2 * pingMs) {
      this.log.info(
        { silentMs: Date.now() - this.lastHeard },
        'terminal page sent nothing for two ping intervals, dropping the socket',
      );
      this.socket.terminate();
      return;
    }

    const stamp = new Uint8Array(8);
    new DataView(stamp.buffer).setBigUint64(0, BigInt(Date.now()));
    this.send({ type: 'ping', data: stamp });
  }

  private reject(reason: string): void {
    this.log.warn({ reason }, 'terminal frame rejected');
    this.send({ type: 'status', state: 'error', message: `Rejected a frame: ${reason}.` });
  }

  private send(frame: Frame): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(encodeFrame(frame), { binary: true });
  }
}
