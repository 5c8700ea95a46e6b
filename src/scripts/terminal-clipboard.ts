// Copy and paste for a lab terminal. Ctrl+Shift+C and Ctrl+Shift+V (Cmd+C and Cmd+V on macOS)
// copy the selection and paste, because plain Ctrl+C and Ctrl+V belong to the shell. Every paste,
// from the keyboard or from the right-click menu, goes through one guard: text with a line break
// could run commands at once, so the page requests confirmation first. Pastes go through
// xterm.js's paste(), which wraps them in bracketed-paste markers when the shell has turned that
// mode on.
import type { Terminal } from '@xterm/xterm';

export interface ClipboardOptions {
  /** Returns whether to paste text of several lines, after asking the learner. */
  confirmPaste(lineCount: number): Promise<boolean>;
  /** Returns whether a new selection is copied at once. */
  copyOnSelect(): boolean;
}

const isMac = /Mac|iPhone|iPad/.test(navigator.platform);

/** Installs the key bindings and the paste guard; returns a function that removes them. */
export function installClipboard(
  terminal: Terminal,
  element: HTMLElement,
  options: ClipboardOptions,
): () => void {
  terminal.attachCustomKeyEventHandler((event) => handleKey(terminal, event));

  const onPaste = (event: ClipboardEvent) => {
    // Capture phase on the container: the guard runs before xterm.js's own paste listener.
    event.preventDefault();
    event.stopPropagation();
    void pasteGuarded(terminal, event.clipboardData?.getData('text/plain') ?? '', options);
  };
  element.addEventListener('paste', onPaste, { capture: true });

  const selection = terminal.onSelectionChange(() => {
    if (options.copyOnSelect() && terminal.hasSelection()) void copyText(terminal.getSelection());
  });

  return () => {
    element.removeEventListener('paste', onPaste, { capture: true });
    selection.dispose();
  };
}

/** Returns false for the keys this module handles, so xterm.js does not send them to the shell. */
function handleKey(terminal: Terminal, event: KeyboardEvent): boolean {
  if (event.type !== 'keydown') return true;
  const key = event.key.toLowerCase();
  const modifier = isMac
    ? event.metaKey && !event.ctrlKey
    : event.ctrlKey && event.shiftKey && !event.metaKey;
  if (!modifier || event.altKey) return true;

  if (key === 'c') {
    if (terminal.hasSelection()) void copyText(terminal.getSelection());
    event.preventDefault();
    return false;
  }

  // The browser's own paste runs on the focused textarea and fires the paste event guarded above.
  if (key === 'v') return false;
  return true;
}

export async function pasteGuarded(
  terminal: Terminal,
  text: string,
  options: ClipboardOptions,
): Promise<void> {
  if (text === '') return;

  const lineCount = text
    .split(/\r\n|\r|\n/)
    .filter((line, index, lines) => line !== '' || index < lines.length - 1).length;
  if (/[\r\n]/.test(text) && !(await options.confirmPaste(lineCount))) {
    terminal.focus();
    return;
  }

  terminal.paste(text);
  terminal.focus();
}

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Without clipboard permission, the browser's own copy (the context menu) still works.
  }
}
