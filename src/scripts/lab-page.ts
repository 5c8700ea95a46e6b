// The lab page's behaviour: start and stop a session, open its terminals, run commands from the
// steps, and run checks. The terminal code is imported only once a session starts.
import { ApiError, resumeSession, runCheck, startSession, stopSession, type SessionInfo } from './lab-api.ts';
import type { TerminalConnection } from './terminal-client.ts';

const TOKEN_SUBPROTOCOL = 'ddev-lab.v1';
const TOKEN_PREFIX = 'ddev-lab.token.';

export function mountLab(root: HTMLElement): void {
  const labId = root.dataset.labId!;
  const storageKey = `ddev-lab:session:${labId}`;
  const progressKey = `ddev-lab:progress:${labId}`;

  const startButton = root.querySelector<HTMLButtonElement>('.lab-start')!;
  const stopButton = root.querySelector<HTMLButtonElement>('.lab-stop')!;
  const status = root.querySelector<HTMLElement>('.lab-status')!;
  const timer = root.querySelector<HTMLElement>('.lab-timer')!;
  const terminalsBox = root.querySelector<HTMLElement>('.lab-terminals')!;

  let session: SessionInfo | undefined;
  let terminals = new Map<string, TerminalConnection>();
  let timerHandle: number | undefined;

  const setStatus = (message: string) => {
    status.textContent = message;
  };

  const setRunning = (running: boolean) => {
    startButton.hidden = running;
    stopButton.hidden = !running;
    terminalsBox.hidden = !running;
    for (const button of root.querySelectorAll<HTMLButtonElement>('.lab-run, .lab-check')) button.disabled = !running;
  };

  const showProgress = () => {
    const passed = new Set<string>(JSON.parse(localStorage.getItem(progressKey) ?? '[]'));
    for (const step of root.querySelectorAll<HTMLElement>('.lab-step')) {
      step.classList.toggle('passed', passed.has(step.dataset.stepId!));
    }
  };

  const recordPassed = (stepId: string) => {
    const passed = new Set<string>(JSON.parse(localStorage.getItem(progressKey) ?? '[]'));
    passed.add(stepId);
    localStorage.setItem(progressKey, JSON.stringify([...passed]));
    showProgress();
  };

  const startTimer = (expiresAt: string) => {
    window.clearInterval(timerHandle);
    const update = () => {
      const seconds = Math.max(0, Math.round((Date.parse(expiresAt) - Date.now()) / 1000));
      timer.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')} left`;
      if (seconds === 0) end('The session has expired. Press Start for a new one.');
    };
    update();
    timerHandle = window.setInterval(update, 1000);
  };

  const openTerminals = async (info: SessionInfo) => {
    const { connectTerminal } = await import('./terminal-client.ts');
    for (const { id } of info.terminals) {
      const element = root.querySelector<HTMLElement>(`.lab-terminal[data-terminal-id="${id}"]`);
      if (!element) continue;
      element.replaceChildren();
      terminals.set(
        id,
        connectTerminal({
          element,
          url: `/ws/sessions/${info.sessionId}/terminals/${id}`,
          protocols: [TOKEN_SUBPROTOCOL, TOKEN_PREFIX + info.token],
          onStatus: setStatus,
        }),
      );
    }
    terminals.get(root.dataset.firstTerminal!)?.focus();
  };

  const begin = async (info: SessionInfo) => {
    session = info;
    sessionStorage.setItem(storageKey, JSON.stringify(info));
    setRunning(true);
    startTimer(info.expiresAt);
    await openTerminals(info);
    setStatus('Your containers are running. Type in the terminal, or press Run beside a command.');
  };

  const end = (message: string) => {
    window.clearInterval(timerHandle);
    timer.textContent = '';
    for (const terminal of terminals.values()) terminal.dispose();
    terminals = new Map();
    session = undefined;
    sessionStorage.removeItem(storageKey);
    setRunning(false);
    setStatus(message);
  };

  startButton.addEventListener('click', async () => {
    startButton.disabled = true;
    setStatus('Starting your containers…');
    try {
      await begin(await startSession(labId));
    } catch (error) {
      setStatus(error instanceof ApiError ? error.message : `Starting the lab failed: ${String(error)}`);
    } finally {
      startButton.disabled = false;
    }
  });

  stopButton.addEventListener('click', async () => {
    const current = session;
    end('The lab is stopped and its containers are removed.');
    if (current) await stopSession(current).catch(() => undefined);
  });

  root.addEventListener('click', async (event) => {
    const target = event.target as HTMLElement;
    const button = target.closest<HTMLButtonElement>('button');
    if (!button) return;

    if (button.classList.contains('lab-tab')) selectTab(root, button.dataset.terminalId!, terminals);
    if (button.classList.contains('lab-copy')) await copyCommand(button);
    if (button.classList.contains('lab-run')) runCommand(root, button, terminals);
    if (button.classList.contains('lab-check') && session) await check(button, session, recordPassed);
  });

  showProgress();
  const saved = sessionStorage.getItem(storageKey);
  if (saved) {
    resumeSession(JSON.parse(saved) as SessionInfo)
      .then((info) => (info ? begin(info) : end('Your earlier session has ended. Press Start for a new one.')))
      .catch((error) => setStatus(String(error)));
  }
}

function selectTab(root: HTMLElement, terminalId: string, terminals: Map<string, TerminalConnection>): void {
  for (const tab of root.querySelectorAll<HTMLElement>('.lab-tab')) {
    tab.setAttribute('aria-selected', String(tab.dataset.terminalId === terminalId));
  }
  for (const panel of root.querySelectorAll<HTMLElement>('.lab-terminal')) {
    panel.hidden = panel.dataset.terminalId !== terminalId;
  }
  terminals.get(terminalId)?.fit();
  terminals.get(terminalId)?.focus();
}

function runCommand(root: HTMLElement, button: HTMLButtonElement, terminals: Map<string, TerminalConnection>): void {
  const terminalId = button.dataset.terminal!;
  const terminal = terminals.get(terminalId);
  if (!terminal) return;

  selectTab(root, terminalId, terminals);
  if (button.dataset.interrupt === 'true') terminal.send('\x03');
  terminal.send(`${button.dataset.command}\r`);
}

async function copyCommand(button: HTMLButtonElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(button.dataset.command ?? '');
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Copy failed';
  }
  window.setTimeout(() => (button.textContent = 'Copy'), 1500);
}

async function check(button: HTMLButtonElement, session: SessionInfo, recordPassed: (stepId: string) => void): Promise<void> {
  const stepId = button.dataset.stepId!;
  const result = button.parentElement!.querySelector<HTMLElement>('.lab-check-result')!;
  button.disabled = true;
  result.textContent = 'Checking…';

  try {
    const outcome = await runCheck(session, stepId);
    result.textContent = outcome.passed ? '✓ Passed' : `✗ ${outcome.message}${outcome.hint ? ` Hint: ${outcome.hint}` : ''}`;
    result.dataset.passed = String(outcome.passed);
    if (outcome.passed) recordPassed(stepId);
  } catch (error) {
    result.textContent = error instanceof ApiError ? error.message : String(error);
    result.dataset.passed = 'false';
  } finally {
    button.disabled = false;
  }
}
