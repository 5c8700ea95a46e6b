// One xterm.js terminal bound to one WebSocket of the terminal protocol. Loaded only when a lab
// starts, so guide pages carry no terminal code.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';

import { decodeFrame, encodeFrame, type Frame } from '../../lab-server/src/terminal/protocol.ts';

/** Acknowledge received output after this many bytes, so the server keeps sending. */
const ACK_EVERY_BYTES = 64 * 1024;
const encoder = new TextEncoder();

export interface TerminalConnection {
  send(text: string): void;
  focus(): void;
  fit(): void;
  dispose(): void;
}

export function connectTerminal(options: {
  element: HTMLElement;
  url: string;
  protocols: string[];
  onStatus: (message: string) => void;
}): TerminalConnection {
  const terminal = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 14,
    scrollback: 5000,
  });
  const fitAddon = new FitAddon();
  terminal.loadAddon(fitAddon);
  terminal.open(options.element);
  fitAddon.fit();

  const url = new URL(options.url, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('cols', String(terminal.cols));
  url.searchParams.set('rows', String(terminal.rows));

  const socket = new WebSocket(url, options.protocols);
  socket.binaryType = 'arraybuffer';
  let received = 0;
  let acknowledged = 0;

  const sendFrame = (frame: Frame) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(encodeFrame(frame));
  };

  socket.addEventListener('message', (event) => {
    const frame = decodeFrame(new Uint8Array(event.data as ArrayBuffer));
    if (frame.type === 'output') {
      received = frame.offset + frame.data.length;
      terminal.write(frame.data, () => {
        if (received - acknowledged >= ACK_EVERY_BYTES) {
          acknowledged = received;
          sendFrame({ type: 'ack', offset: received });
        }
      });
    } else if (frame.type === 'status' && frame.state !== 'ready') {
      options.onStatus(frame.message);
    } else if (frame.type === 'ping') {
      sendFrame({ type: 'pong', data: frame.data });
    }
  });
  socket.addEventListener('open', () => {
    sendFrame({ type: 'resize', cols: terminal.cols, rows: terminal.rows });
  });
  socket.addEventListener('close', (event) => {
    if (event.code !== 1000) options.onStatus('The terminal connection closed. Press Start to get a new one.');
  });

  terminal.onData((text) => sendFrame({ type: 'input', data: encoder.encode(text) }));
  terminal.onResize(({ cols, rows }) => sendFrame({ type: 'resize', cols, rows }));

  const observer = new ResizeObserver(() => {
    if (options.element.offsetParent !== null) fitAddon.fit();
  });
  observer.observe(options.element);

  return {
    send: (text) => sendFrame({ type: 'input', data: encoder.encode(text) }),
    focus: () => terminal.focus(),
    fit: () => fitAddon.fit(),
    dispose: () => {
      observer.disconnect();
      socket.close(1000);
      terminal.dispose();
    },
  };
}
