// The lab page's behaviour: start, stop and reset a session, open its terminals in tabs, run
// commands from the steps, and run checks. The server keeps the learner's progress and running
// session, so a reload picks both up again. The terminal code loads only once a session starts.
import {
  ApiError,
  loadProgress,
  resetSession,
  startSession,
  stopSession,
  type SessionInfo,
} from './lab-api.ts';
import { startClock, type LabClock } from './lab-clock.ts';
import { checkStep, redoStep, showHints, showProgress } from './lab-steps.ts';
import { startWhenThereIsRoom } from './join-capacity.ts';
import type { ProjectBuildControls } from './lab-project-build.ts';
import type { TerminalConnection } from './terminal-client.ts';

/** Number of looks, and the wait between them, for a running session after the page lost its own. */
const RESTORE_ATTEMPTS = 6;
const RESTORE_DELAY_MS = 3000;

const TOKEN_SUBPROTOCOL = 'ddev-lab.v1';
const TOKEN_PREFIX = 'ddev-lab.token.';

export function mountLab(root: HTMLElement): void {
  const labId = root.dataset.labId!;
  const startButton = root.querySelector<HTMLButtonElement>('.lab-start')!;
  const stopButton = root.querySelector<HTMLButtonElement>('.lab-stop')!;
  const resetButton = root.querySelector<HTMLButtonElement>('.lab-reset')!;
  const status = root.querySelector<HTMLElement>('.lab-status')!;
  const terminalsBox = root.querySelector<HTMLElement>('.lab-terminals')!;

  let session: SessionInfo | undefined;
  let terminals = new Map<string, TerminalConnection>();
  let clock: LabClock | undefined;
  /** Set when a terminal was ended by the server, so an unreachable server then ends the page. */
  let terminalEnded = false;
  // Terminals whose container a Restart is replacing: their shells end with the old container.
  const replacing = new Set<string>();

  const setStatus = (message: string) => {
    status.textContent = message;
  };

  const setRunning = (running: boolean) => {
    startButton.hidden = running;
    stopButton.hidden = !running;
    resetButton.hidden = !running;
    terminalsBox.hidden = !running;
    for (const button of root.querySelectorAll<HTMLButtonElement>('.lab-run, .lab-check'))
      button.disabled = !running;
    for (const button of root.querySelectorAll<HTMLButtonElement>('.lab-restart'))
      button.hidden = !running;
    void projectBuild?.then((controls) => controls.setRunning(running));
  };

  const openTerminal = async (info: SessionInfo, id: string) => {
    const { connectTerminal } = await import('./terminal-client.ts');
    const element = root.querySelector<HTMLElement>(`.lab-terminal[data-terminal-id="${id}"]`);
    if (!element) return;

    terminals.get(id)?.dispose();
    element.replaceChildren();
    terminals.set(
      id,
      connectTerminal({
        element,
        url: `/ws/sessions/${info.sessionId}/terminals/${id}`,
        protocols: [TOKEN_SUBPROTOCOL, TOKEN_PREFIX + info.token],
        onStatus: (message) => {
          if (!replacing.has(id)) setStatus(message);
        },
        // A shell that exited leaves the session running, unlike an ended session or a stopped
        // server. A heartbeat sent at once finds out which it was.
        onEnded: () => {
          if (replacing.has(id)) return;
          terminalEnded = true;
          clock?.checkNow();
        },
      }),
    );
  };

  const openTerminals = async (info: SessionInfo) => {
    for (const { id } of info.terminals) await openTerminal(info, id);
    terminals.get(root.dataset.firstTerminal!)?.focus();
  };

  /** Lists the page's terminals into a service's container. */
  const terminalsOf = (service: string) =>
    [...root.querySelectorAll<HTMLElement>(`.lab-terminal[data-service="${service}"]`)].map(
      (element) => element.dataset.terminalId!,
    );

  const buildService = root.dataset.projectBuildService;
  const projectBuild: Promise<ProjectBuildControls> | undefined = buildService
    ? import('./lab-project-build.ts').then(({ mountProjectBuild }) =>
        mountProjectBuild({
          root,
          service: buildService,
          session: () => session,
          onReplacing: (active) => {
            for (const id of terminalsOf(buildService)) {
              if (active) replacing.add(id);
              else replacing.delete(id);
            }
          },
          // The old shells ended with the old container; new ones open in its replacement.
          onReplaced: async () => {
            const current = session;
            for (const id of terminalsOf(buildService)) {
              replacing.delete(id);
              if (current) await openTerminal(current, id);
            }
          },
          setStatus,
        }),
      )
    : undefined;

  const showWebLinks = (info: SessionInfo | undefined) => {
    for (const link of root.querySelectorAll<HTMLAnchorElement>('.lab-web-link')) {
      const entry = info?.web.find((candidate) => candidate.id === link.dataset.webId);
      link.hidden = !entry;
      if (entry) link.href = entry.url;
    }
  };

  const closeTerminals = () => {
    for (const terminal of terminals.values()) terminal.dispose();
    terminals = new Map();
  };

  const end = (message: string) => {
    clock?.dispose();
    clock = undefined;
    closeTerminals();
    session = undefined;
    showWebLinks(undefined);
    setRunning(false);
    setStatus(message);
  };

  const begin = async (info: SessionInfo) => {
    session = info;
    terminalEnded = false;
    setRunning(true);
    showProgress(root, info.passedSteps);
    showWebLinks(info);
    clock = startClock({
      root,
      session: info,
      onExpired: () =>
        end('The session has ended. Your progress is saved: press Start to continue.'),
      onLost: (error) => {
        // The API reports a server that did not respond as status 0.
        const unreachable = !(error instanceof ApiError) || error.status === 0;
        if (unreachable && terminalEnded) {
          end(
            'The lab server cannot be reached and your terminal has ended. Your progress is saved: press Start when the server is back.',
          );
          return;
        }
        if (error instanceof ApiError && (error.status === 404 || error.status === 401)) {
          end(
            'The session has ended (it was idle, or the server restarted). Your progress is saved: press Start to continue.',
          );
          // An instructor's reset or a server restart may have left a session running for us.
          // A reset's new session can take a few seconds to appear, so look again a few times.
          void restoreSoon(root, labId, begin, setStatus, () => session !== undefined);
        }
      },
    });
    await openTerminals(info);
    setStatus('Your containers are running. Type in the terminal, or press Run beside a command.');
  };

  const guarded =
    (button: HTMLButtonElement, work: () => Promise<void>, failure: string) => async () => {
      button.disabled = true;
      try {
        await work();
      } catch (error) {
        setStatus(error instanceof ApiError ? error.message : `${failure}: ${String(error)}`);
      } finally {
        button.disabled = false;
      }
    };

  startButton.addEventListener(
    'click',
    guarded(
      startButton,
      async () => {
        setStatus('Starting your containers…');
        await begin(await startWhenThereIsRoom(() => startSession(labId), setStatus));
      },
      'Starting the lab failed',
    ),
  );
  // The page renders Start disabled, so a click before this script runs is not lost.
  startButton.disabled = false;

  stopButton.addEventListener('click', async () => {
    const current = session;
    end('The lab is stopped and its containers are removed. Your progress is saved.');
    if (current) await stopSession(current).catch(() => undefined);
  });

  resetButton.addEventListener(
    'click',
    guarded(
      resetButton,
      async () => {
        if (
          !session ||
          !window.confirm(
            'Start over? Your containers are replaced by fresh ones and your progress in this lab is cleared.',
          )
        )
          return;
        const current = session;
        end('Starting over with fresh containers…');
        for (const step of root.querySelectorAll<HTMLElement>('.lab-step')) {
          showHints(step, []);
          step.querySelector<HTMLElement>('.lab-check-result')!.textContent = '';
        }
        await begin(await resetSession(current));
      },
      'Starting over failed',
    ),
  );

  root.addEventListener('click', async (event) => {
    const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button');
    if (!button) return;

    if (button.classList.contains('lab-tab'))
      selectTab(root, button.dataset.terminalId!, terminals);
    if (button.classList.contains('lab-copy')) await copyCommand(button);
    if (button.classList.contains('lab-run')) runCommand(root, button, terminals, session);
    if (button.classList.contains('lab-check') && session) await checkStep(root, button, session);
    if (button.classList.contains('lab-restart') && session) await redoStep(root, button, session);
  });
  root
    .querySelector('.lab-tabs')!
    .addEventListener('keydown', (event) => moveTab(root, event as KeyboardEvent, terminals));
  followStickyHeight(root, terminalsBox);

  void restore(root, labId, begin, setStatus);
}

/** Shows the learner's saved progress and reconnects to a session that is still running. */
/** Shows the learner's progress and takes up their running session; returns whether there was one. */
async function restore(
  root: HTMLElement,
  labId: string,
  begin: (info: SessionInfo) => Promise<void>,
  setStatus: (message: string) => void,
): Promise<boolean> {
  try {
    const progress = await loadProgress(labId);
    showProgress(root, progress.passedSteps);
    for (const step of root.querySelectorAll<HTMLElement>('.lab-step'))
      showHints(step, progress.hints[step.dataset.stepId!] ?? []);
    if (progress.session) {
      await begin(progress.session);
      return true;
    }
    if (progress.passedSteps.length > 0)
      setStatus('Welcome back. Press Start: your containers are brought up to where you left off.');
  } catch (error) {
    // A static copy of the site without a lab server still shows the steps.
    if (!(error instanceof ApiError && error.status === 0)) setStatus(String(error));
  }
  return false;
}

/** Tries restore() now and a few times more, until a session turns up or the learner starts one. */
async function restoreSoon(
  root: HTMLElement,
  labId: string,
  begin: (info: SessionInfo) => Promise<void>,
  setStatus: (message: string) => void,
  started: () => boolean,
): Promise<void> {
  for (let attempt = 0; attempt < RESTORE_ATTEMPTS; attempt += 1) {
    if (attempt > 0) await new Promise((resolve) => window.setTimeout(resolve, RESTORE_DELAY_MS));
    if (started()) return;
    if (await restore(root, labId, begin, setStatus)) return;
  }
}

function selectTab(
  root: HTMLElement,
  terminalId: string,
  terminals: Map<string, TerminalConnection>,
): void {
  for (const tab of root.querySelectorAll<HTMLElement>('.lab-tab')) {
    const selected = tab.dataset.terminalId === terminalId;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  for (const panel of root.querySelectorAll<HTMLElement>('.lab-terminal')) {
    panel.hidden = panel.dataset.terminalId !== terminalId;
  }
  terminals.get(terminalId)?.fit();
  terminals.get(terminalId)?.focus();
}

/** Arrow keys move between terminal tabs, as in the WAI-ARIA tabs pattern. */
function moveTab(
  root: HTMLElement,
  event: KeyboardEvent,
  terminals: Map<string, TerminalConnection>,
): void {
  if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
  const tabs = [...root.querySelectorAll<HTMLElement>('.lab-tab')];
  const index = tabs.findIndex((tab) => tab.getAttribute('aria-selected') === 'true');
  const next = tabs[(index + (event.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length]!;
  selectTab(root, next.dataset.terminalId!, terminals);
  next.focus();
}

function runCommand(
  root: HTMLElement,
  button: HTMLButtonElement,
  terminals: Map<string, TerminalConnection>,
  session: SessionInfo | undefined,
): void {
  const terminalId = button.dataset.terminal!;
  const terminal = terminals.get(terminalId);
  if (!terminal) return;

  selectTab(root, terminalId, terminals);
  if (button.dataset.interrupt === 'true') terminal.send('\x03');
  terminal.send(`${button.dataset.command}\r`);
  showWhereItRan(root, terminalId);

  // A step whose check waits starts waiting once its last command runs.
  const step = button.closest<HTMLElement>('.lab-step');
  const check = step?.querySelector<HTMLButtonElement>('.lab-check');
  const last = [...(step?.querySelectorAll('.lab-run') ?? [])].at(-1) === button;
  if (
    session &&
    last &&
    step?.dataset.checkMode === 'poll' &&
    check &&
    !check.disabled &&
    !step.classList.contains('passed')
  ) {
    void checkStep(
      root,
      check,
      session,
      'The last command of this step ran, so its check started. ',
    );
  }
}

/**
 * Keeps --lab-sticky-height at the sticky terminal box's height (0 while it is hidden), so a step
 * scrolled to by its link stops below the box at any screen size and build bar height.
 */
function followStickyHeight(root: HTMLElement, box: HTMLElement): void {
  const update = () => root.style.setProperty('--lab-sticky-height', `${box.offsetHeight}px`);
  new ResizeObserver(update).observe(box);
  update();
}

/**
 * Shows where a Run button's command went: the terminal is scrolled into view when it is out of
 * it, and outlined for a moment.
 */
function showWhereItRan(root: HTMLElement, terminalId: string): void {
  const panel = root.querySelector<HTMLElement>(`.lab-terminal[data-terminal-id="${terminalId}"]`);
  if (!panel) return;

  const box = panel.getBoundingClientRect();
  // Starlight's page header is fixed at the top and covers what is under it.
  const header = document.querySelector('header.header')?.getBoundingClientRect().bottom ?? 0;
  if (box.top < header || box.bottom > window.innerHeight) {
    root.querySelector<HTMLElement>('.lab-terminals')!.scrollIntoView({ block: 'start' });
  }

  panel.dataset.ran = 'true';
  window.clearTimeout(ranTimers.get(panel));
  ranTimers.set(
    panel,
    window.setTimeout(() => delete panel.dataset.ran, 1200),
  );
}

const ranTimers = new WeakMap<HTMLElement, number>();

async function copyCommand(button: HTMLButtonElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(button.dataset.command ?? '');
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Copy failed';
  }
  window.setTimeout(() => (button.textContent = 'Copy'), 1500);
}
