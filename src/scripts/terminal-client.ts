// One xterm.js terminal bound to one lab terminal on the server. The connection survives drops
// (terminal-socket.ts), the terminal fits its box whenever that box can change size, and copy
// and paste follow terminal conventions (terminal-clipboard.ts). Loaded only when a lab starts,
// so guide pages carry no terminal code.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';

import { installClipboard } from './terminal-clipboard.ts';
import { buildOverlay } from './terminal-overlay.ts';
import { TerminalSocket, type ConnectionState } from './terminal-socket.ts';

/** Stop reconnecting after this long; the server keeps the shell about as long by default. */
const GIVE_UP_AFTER_MS = 2 * 60_000;
const encoder = new TextEncoder();

export interface TerminalConnection {
  send(text: string): void;
  focus(): void;
  fit(): void;
  dispose(): void;
  readonly state: ConnectionState;
}

export function connectTerminal(options: {
  element: HTMLElement;
  url: string;
  protocols: string[];
  onStatus: (message: string) => void;
  /** Called when the server ends the terminal: its shell exited, or the whole session ended. */
  onEnded?: () => void;
}): TerminalConnection {
  const overlay = buildOverlay(options.element);
  const terminal = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 14,
    // At a line height of 1 the DOM renderer clips underscores at some scroll positions.
    lineHeight: 1.15,
    scrollback: 5000,
  });
  const fitAddon = new FitAddon();
  terminal.loadAddon(fitAddon);
  terminal.open(overlay.screen);

  const fit = () => {
    // A hidden terminal has no size to fit; it fits again when its box appears.
    if (overlay.screen.offsetParent !== null) fitAddon.fit();
  };
  fit();

  let state: ConnectionState = 'connecting';
  const showState = (next: ConnectionState, message: string) => {
    options.element.dataset.connection = next;
    terminal.options.disableStdin = next !== 'open';
    if (next === 'open' || next === 'connecting') overlay.showBanner('');
    if (next === 'reconnecting') overlay.showBanner(message);
    if (next === 'gave-up')
      overlay.showBanner(message, { label: 'Try again', run: () => socket.retry() });
    if (next === 'replaced')
      overlay.showBanner(message, { label: 'Use it here', run: () => socket.retry() });
    if (next === 'ended') {
      overlay.showBanner(message);
      options.onStatus(message);
      options.onEnded?.();
    }
  };
  const socket = new TerminalSocket({
    url: options.url,
    protocols: options.protocols,
    giveUpAfterMs: GIVE_UP_AFTER_MS,
    size: () => ({ cols: terminal.cols, rows: terminal.rows }),
    write: (data, done) => terminal.write(data, done),
    notice: (text) => terminal.write(`\r\n\x1b[33m[${text}]\x1b[0m\r\n`),
    onState: (next, message) => {
      state = next;
      showState(next, message);
    },
  });

  showState('connecting', '');

  const sendText = (text: string) => socket.send({ type: 'input', data: encoder.encode(text) });
  // One frame per keystroke or paste, sent at once: batching input would add its delay to echo.
  terminal.onData(sendText);
  terminal.onBinary((data) =>
    socket.send({ type: 'input', data: Uint8Array.from(data, (char) => char.charCodeAt(0)) }),
  );
  terminal.onResize(({ cols, rows }) => socket.send({ type: 'resize', cols, rows }));

  const removeClipboard = installClipboard(terminal, options.element, overlay);
  const stopFitting = fitOnLayoutChanges(overlay.screen, fit);

  return {
    send: sendText,
    focus: () => terminal.focus(),
    fit,
    get state() {
      return state;
    },
    dispose: () => {
      stopFitting();
      removeClipboard();
      socket.dispose();
      terminal.dispose();
    },
  };
}

/**
 * Fits the terminal after fonts load (the cell size changes), when its box changes size (window
 * resize, browser zoom, a lab tab shown), and when the browser tab becomes visible again.
 */
function fitOnLayoutChanges(screen: HTMLElement, fit: () => void): () => void {
  let frame = 0;
  const fitSoon = () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(fit);
  };

  void document.fonts?.ready.then(fitSoon);
  const observer = new ResizeObserver(fitSoon);
  observer.observe(screen);
  window.addEventListener('resize', fitSoon);
  const onVisible = () => {
    if (document.visibilityState === 'visible') fitSoon();
  };
  document.addEventListener('visibilitychange', onVisible);

  return () => {
    cancelAnimationFrame(frame);
    observer.disconnect();
    window.removeEventListener('resize', fitSoon);
    document.removeEventListener('visibilitychange', onVisible);
  };
}
