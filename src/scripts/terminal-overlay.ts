// The parts of a lab terminal around xterm.js: the screen it draws in, a banner while the
// connection is down, the question before a paste of several lines, and the copy-on-select
// option. All of it lives inside the terminal's own element.

const COPY_ON_SELECT_KEY = 'ddev-lab:terminal:copy-on-select';
const isMac = /Mac|iPhone|iPad/.test(navigator.platform);

export interface TerminalOverlay {
  screen: HTMLElement;
  /** Shows a banner; `action` adds a button with that label. Hides it when `message` is empty. */
  showBanner(message: string, action?: { label: string; run: () => void }): void;
  confirmPaste(lineCount: number): Promise<boolean>;
  copyOnSelect(): boolean;
}

export function buildOverlay(element: HTMLElement): TerminalOverlay {
  const screen = create('div', 'lab-terminal-screen');
  const banner = create('div', 'lab-terminal-banner');
  banner.setAttribute('role', 'status');
  banner.hidden = true;
  const paste = buildPasteQuestion();
  const bar = buildBar();
  element.replaceChildren(screen, banner, paste.root, bar.root);

  return {
    screen,
    showBanner: (message, action) => {
      banner.hidden = message === '';
      banner.replaceChildren(create('span', 'lab-terminal-banner-text', message));
      if (!action) return;
      const button = create('button', 'lab-terminal-action', action.label);
      button.type = 'button';
      button.addEventListener('click', action.run);
      banner.append(button);
    },
    confirmPaste: paste.ask,
    copyOnSelect: () => bar.checkbox.checked,
  };
}

function buildPasteQuestion() {
  const root = create('div', 'lab-terminal-paste');
  root.setAttribute('role', 'alertdialog');
  root.setAttribute('aria-label', 'Paste several lines');
  root.hidden = true;
  const text = create('p', 'lab-terminal-paste-text');
  const accept = create('button', 'lab-terminal-action', 'Paste');
  const cancel = create('button', 'lab-terminal-action', 'Cancel');
  accept.type = 'button';
  cancel.type = 'button';
  root.append(text, accept, cancel);

  const ask = (lineCount: number) =>
    new Promise<boolean>((resolve) => {
      const lines = lineCount === 1 ? 'a line that ends with a line break' : `${lineCount} lines`;
      text.textContent = `Paste ${lines}? The shell may run each line as a command.`;
      root.hidden = false;
      accept.focus();

      const finish = (answer: boolean) => {
        root.hidden = true;
        accept.removeEventListener('click', onAccept);
        cancel.removeEventListener('click', onCancel);
        root.removeEventListener('keydown', onKey);
        resolve(answer);
      };
      const onAccept = () => finish(true);
      const onCancel = () => finish(false);
      const onKey = (event: KeyboardEvent) => {
        if (event.key === 'Escape') finish(false);
      };
      accept.addEventListener('click', onAccept);
      cancel.addEventListener('click', onCancel);
      root.addEventListener('keydown', onKey);
    });
  return { root, ask };
}

function buildBar() {
  const root = create('div', 'lab-terminal-bar');
  const label = create('label', 'lab-terminal-option');
  const checkbox = create('input');
  checkbox.type = 'checkbox';
  checkbox.checked = localStorage.getItem(COPY_ON_SELECT_KEY) === 'true';
  checkbox.addEventListener('change', () =>
    localStorage.setItem(COPY_ON_SELECT_KEY, String(checkbox.checked)),
  );
  label.append(checkbox, ' Copy on select');

  const keys = isMac ? 'Cmd+C copies, Cmd+V pastes' : 'Ctrl+Shift+C copies, Ctrl+Shift+V pastes';
  root.append(label, create('span', 'lab-terminal-keys', `${keys}, right-click for the menu`));
  return { root, checkbox };
}

function create<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}
