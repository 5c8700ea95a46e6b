// A headless terminal client for tests: speaks the terminal protocol over a real WebSocket.
import WebSocket from 'ws';

import { decodeFrame, encodeFrame, type Frame } from '../../lab-server/src/terminal/protocol.ts';

export class TestTerminal implements AsyncDisposable {
  readonly socket: WebSocket;
  private text = '';
  readonly statuses: string[] = [];

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (frame.type === 'output') {
        this.text += Buffer.from(frame.data).toString('utf8');
        this.send({ type: 'ack', offset: frame.offset + frame.data.length });
      }
      if (frame.type === 'status') this.statuses.push(`${frame.state}: ${frame.message}`);
    });
  }

  static open(baseUrl: string, sessionId: string, token: string, terminalId = 'web', origin?: string): Promise<TestTerminal> {
    const url = `${baseUrl.replace(/^http/, 'ws')}/ws/sessions/${sessionId}/terminals/${terminalId}?cols=80&rows=24`;
    const socket = new WebSocket(url, ['ddev-lab.v1', `ddev-lab.token.${token}`], { origin: origin ?? baseUrl });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new TestTerminal(socket)));
      socket.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk));
        response.on('end', () => reject(Object.assign(new Error(`upgrade rejected: ${response.statusCode} ${body}`), { status: response.statusCode, body })));
      });
      socket.once('error', reject);
    });
  }

  send(frame: Frame): void {
    this.socket.send(encodeFrame(frame));
  }

  type(text: string): void {
    this.send({ type: 'input', data: new TextEncoder().encode(text) });
  }

  output(): string {
    return this.text;
  }

  /** Waits until the output matches, or fails with the output so far. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const match = pattern.exec(this.text);
      if (match) return match;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`terminal output did not match ${pattern} within ${timeoutMs} ms; output was:\n${this.text}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.socket.once('close', resolve));
    this.socket.close(1000);
    await closed;
  }
}
