// A headless terminal client for tests: speaks the terminal protocol over a real WebSocket, keeps
// the output it received, and acknowledges it at once, or only when asked, like a slow page.
import WebSocket from 'ws';

import { decodeFrame, encodeFrame, type Frame } from '../../lab-server/src/terminal/protocol.ts';

export interface TerminalOpenOptions {
  terminalId?: string;
  origin?: string;
  cols?: number;
  rows?: number;
  /** Resume this shell from this offset, as a reconnecting page does. */
  resume?: { shellId: string; offset: number };
  /** `manual` sends no ACK until ack() is called. */
  ackMode?: 'auto' | 'manual';
  /** Keep only this many characters of output text, for floods. */
  keepChars?: number;
}

export class TestTerminal implements AsyncDisposable {
  readonly socket: WebSocket;
  readonly statuses: string[] = [];
  attached: Extract<Frame, { type: 'attached' }> | undefined;
  /** Offset just past the last output byte received. */
  received = 0;
  /** Every output byte, in order, when keepChars is not set. */
  bytes: Buffer[] = [];
  lastOutputAt = 0;
  closeCode: number | undefined;
  private onAttached: () => void = () => undefined;
  private text = '';
  private readonly options: TerminalOpenOptions;

  private constructor(socket: WebSocket, options: TerminalOpenOptions) {
    this.socket = socket;
    this.options = options;
    socket.on('message', (data: Buffer) =>
      this.receive(decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))),
    );
    socket.on('close', (code) => (this.closeCode = code));
  }

  /**
   * Opens a terminal and resolves once the server has sent ATTACHED. The older form passes the
   * terminal id and the origin as two strings.
   */
  static open(
    baseUrl: string,
    sessionId: string,
    token: string,
    optionsOrTerminalId: TerminalOpenOptions | string = {},
    origin?: string,
  ): Promise<TestTerminal> {
    const options =
      typeof optionsOrTerminalId === 'string'
        ? { terminalId: optionsOrTerminalId, origin }
        : optionsOrTerminalId;
    const url = new URL(
      `${baseUrl.replace(/^http/, 'ws')}/ws/sessions/${sessionId}/terminals/${options.terminalId ?? 'web'}`,
    );
    url.searchParams.set('cols', String(options.cols ?? 80));
    url.searchParams.set('rows', String(options.rows ?? 24));
    if (options.resume) {
      url.searchParams.set('shell', options.resume.shellId);
      url.searchParams.set('offset', String(options.resume.offset));
    }

    const socket = new WebSocket(url, ['ddev-lab.v1', `ddev-lab.token.${token}`], {
      origin: options.origin ?? baseUrl,
    });
    // Listen from the start: ATTACHED and the replay can arrive with the handshake.
    const terminal = new TestTerminal(socket, options);
    return new Promise((resolve, reject) => {
      terminal.onAttached = () => resolve(terminal);
      socket.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk));
        response.on('end', () =>
          reject(
            Object.assign(new Error(`upgrade rejected: ${response.statusCode} ${body}`), {
              status: response.statusCode,
              body,
            }),
          ),
        );
      });
      socket.once('error', reject);
    });
  }

  private receive(frame: Frame): void {
    if (frame.type === 'attached') {
      this.attached = frame;
      this.received = frame.offset;
      this.onAttached();
    }
    if (frame.type === 'output') this.receiveOutput(frame.offset, frame.data);
    if (frame.type === 'status') this.statuses.push(`${frame.state}: ${frame.message}`);
    if (frame.type === 'ping') this.send({ type: 'pong', data: frame.data });
  }

  private receiveOutput(offset: number, data: Uint8Array): void {
    if (offset !== this.received)
      throw new Error(`output at offset ${offset}, expected ${this.received}`);
    this.received = offset + data.length;
    this.lastOutputAt = Date.now();

    const chunk = Buffer.from(data);
    this.text += chunk.toString('latin1');
    if (this.options.keepChars !== undefined) this.text = this.text.slice(-this.options.keepChars);
    else this.bytes.push(chunk);

    if (this.options.ackMode !== 'manual') this.ack();
  }

  ack(offset = this.received): void {
    this.send({ type: 'ack', offset });
  }

  send(frame: Frame): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(encodeFrame(frame));
  }

  type(text: string): void {
    this.send({ type: 'input', data: new TextEncoder().encode(text) });
  }

  /** Output so far as text; bytes map one to one onto characters, so UTF-8 shows as mojibake. */
  output(): string {
    return this.text;
  }

  /** Drops the TCP connection without a close frame, as a lost network does. */
  drop(): void {
    this.socket.terminate();
  }

  /** Waits until the output matches, or fails with the output so far. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const match = pattern.exec(this.text);
      if (match) return match;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(
      `terminal output did not match ${pattern} within ${timeoutMs} ms; output was:\n${this.text.slice(-2000)}`,
    );
  }

  /** Waits until the socket has closed, and returns its close code. */
  async closed(timeoutMs = 10_000): Promise<number> {
    if (this.socket.readyState === WebSocket.CLOSED) return this.closeCode!;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`socket still open after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.socket.once('close', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.socket.once('close', resolve));
    this.socket.close(1000);
    await closed;
  }
}
