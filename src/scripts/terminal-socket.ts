// The page's side of the terminal protocol: one WebSocket at a time to one terminal, reopened
// with backoff after a drop, resuming the shell from the last byte the page received, and
// acknowledging output once xterm.js has processed it.
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  type TerminalState,
} from '../../lab-server/src/terminal/protocol.ts';

/** Connection states, also set as `data-connection` on the terminal element. */
export type ConnectionState =
  'connecting' | 'open' | 'reconnecting' | 'replaced' | 'ended' | 'gave-up';

/** Acknowledge at once past this many processed bytes, otherwise after ACK_DELAY_MS. */
const ACK_EVERY_BYTES = 32 * 1024;
const ACK_DELAY_MS = 100;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5000;
const RETRY_GROWTH = 1.5;
/** The server pings every 30 s at most; this much silence means the connection is dead. */
const SILENCE_LIMIT_MS = 75_000;

export interface TerminalSocketOptions {
  url: string;
  protocols: string[];
  /** Stop retrying after this long without a connection; the page then offers a button. */
  giveUpAfterMs: number;
  size(): { cols: number; rows: number };
  /** Writes output to the terminal and calls `done` once it is processed. */
  write(data: Uint8Array, done: () => void): void;
  /** Shows a line of explanation in the terminal itself. */
  notice(text: string): void;
  onState(state: ConnectionState, message: string): void;
}

export class TerminalSocket {
  private socket: WebSocket | undefined;
  private state: ConnectionState = 'connecting';
  private shellId: string | undefined;
  private received = 0;
  private processed = 0;
  private acknowledged = 0;
  private ackTimer: number | undefined;
  private retryTimer: number | undefined;
  private retryDelay = FIRST_RETRY_MS;
  private downSince = 0;
  private lastHeard = 0;
  private readonly watchdog: number;
  private readonly options: TerminalSocketOptions;

  constructor(options: TerminalSocketOptions) {
    this.options = options;
    this.watchdog = window.setInterval(() => this.checkSilence(), 5000);
    this.open();
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  send(frame: Frame): void {
    if (this.state === 'open' && this.socket?.readyState === WebSocket.OPEN)
      this.socket.send(encodeFrame(frame));
  }

  /** Connects again at once: after giving up, or to take the terminal back from another page. */
  retry(): void {
    window.clearTimeout(this.retryTimer);
    this.retryDelay = FIRST_RETRY_MS;
    this.downSince = Date.now();
    this.setState('reconnecting', 'Reconnecting…');
    this.open();
  }

  dispose(): void {
    window.clearInterval(this.watchdog);
    window.clearTimeout(this.retryTimer);
    window.clearTimeout(this.ackTimer);
    this.state = 'ended';
    this.abandon(1000);
  }

  private open(): void {
    this.abandon(1000);
    const url = new URL(this.options.url, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const { cols, rows } = this.options.size();
    url.searchParams.set('cols', String(cols));
    url.searchParams.set('rows', String(rows));
    if (this.shellId) {
      url.searchParams.set('shell', this.shellId);
      url.searchParams.set('offset', String(this.received));
    }

    const socket = new WebSocket(url, this.options.protocols);
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('message', (event) => {
      if (socket === this.socket)
        this.receive(decodeFrame(new Uint8Array(event.data as ArrayBuffer)));
    });
    socket.addEventListener('close', (event) => {
      if (socket === this.socket) this.closed(event.code);
    });
    this.socket = socket;
    this.lastHeard = Date.now();
  }

  /** Stops listening to the current socket and closes it, without waiting for its close. */
  private abandon(code: number): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(code);
  }

  private receive(frame: Frame): void {
    this.lastHeard = Date.now();
    switch (frame.type) {
      case 'attached':
        this.attached(frame.offset, frame.dropped, frame.shellId);
        break;
      case 'output':
        this.output(frame.offset, frame.data);
        break;
      case 'status':
        this.status(frame.state, frame.message);
        break;
      case 'ping':
        this.send({ type: 'pong', data: frame.data });
        break;
      default:
        break;
    }
  }

  private attached(offset: number, dropped: number, shellId: string): void {
    if (this.shellId && shellId !== this.shellId) {
      this.options.notice('The earlier shell has ended. This is a new one.');
    } else if (dropped > 0) {
      this.options.notice(
        `${dropped} bytes of output were lost while the terminal was disconnected.`,
      );
    }

    this.shellId = shellId;
    this.received = offset;
    this.processed = offset;
    this.acknowledged = offset;
    this.retryDelay = FIRST_RETRY_MS;
    this.setState('open', 'Connected.');
  }

  private output(offset: number, data: Uint8Array): void {
    // Frames arrive in order on one socket, so an overlap or a gap would be a server bug.
    if (offset !== this.received)
      this.options.notice(`Output jumped from byte ${this.received} to ${offset}.`);
    const end = offset + data.length;
    this.received = end;
    this.options.write(data, () => {
      this.processed = Math.max(this.processed, end);
      this.scheduleAck();
    });
  }

  private scheduleAck(): void {
    if (this.processed - this.acknowledged >= ACK_EVERY_BYTES) {
      this.sendAck();
      return;
    }
    if (this.ackTimer === undefined)
      this.ackTimer = window.setTimeout(() => this.sendAck(), ACK_DELAY_MS);
  }

  private sendAck(): void {
    window.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.processed <= this.acknowledged) return;
    this.acknowledged = this.processed;
    this.send({ type: 'ack', offset: this.processed });
  }

  private status(state: TerminalState, message: string): void {
    if (state === 'replaced') this.setState('replaced', message);
    else if (state === 'exited' || state === 'closed') this.setState('ended', message);
    else if (state === 'error') this.options.notice(message);
  }

  private closed(code: number): void {
    this.socket = undefined;
    if (this.state === 'replaced' || this.state === 'ended' || this.state === 'gave-up') return;
    if (code === 4001) {
      this.setState('replaced', 'This terminal is now open in another tab or window.');
      return;
    }

    if (this.state === 'open') this.downSince = Date.now();
    if (this.downSince === 0) this.downSince = Date.now();
    if (Date.now() - this.downSince > this.options.giveUpAfterMs) {
      this.setState('gave-up', 'The terminal could not reconnect.');
      return;
    }

    this.setState('reconnecting', 'Connection lost. Reconnecting…');
    this.retryTimer = window.setTimeout(() => this.open(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * RETRY_GROWTH, MAX_RETRY_MS);
  }

  /** Drops a socket that has been silent too long: a sleeping laptop or a dead network path. */
  private checkSilence(): void {
    if (this.state !== 'open' || Date.now() - this.lastHeard < SILENCE_LIMIT_MS) return;
    this.abandon(4000);
    this.closed(1006);
  }

  private setState(state: ConnectionState, message: string): void {
    this.state = state;
    this.options.onState(state, message);
  }
}
