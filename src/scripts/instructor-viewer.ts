// A read-only xterm.js view of a learner's terminal. Keystrokes are disabled here, and the
// server would drop them anyway. Loaded only when the instructor opens a view.
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';

import { decodeFrame } from '../../lab-server/src/terminal/protocol.ts';

export interface TerminalView {
  dispose(): void;
}

export function openView(
  element: HTMLElement,
  url: string,
  protocols: string[],
  onStatus: (message: string) => void,
): TerminalView {
  element.replaceChildren();
  const terminal = new Terminal({
    disableStdin: true,
    cursorBlink: false,
    fontSize: 13,
    scrollback: 2000,
    convertEol: false,
  });
  terminal.open(element);

  const socket = new WebSocket(new URL(url, location.href).href.replace(/^http/, 'ws'), protocols);
  socket.binaryType = 'arraybuffer';
  socket.addEventListener('message', (event) => {
    const frame = decodeFrame(new Uint8Array(event.data as ArrayBuffer));
    if (frame.type === 'output') terminal.write(frame.data);
    if (frame.type === 'status') onStatus(frame.message);
  });
  socket.addEventListener('close', () => onStatus('The view is closed.'));

  return {
    dispose: () => {
      socket.close(1000);
      terminal.dispose();
    },
  };
}
