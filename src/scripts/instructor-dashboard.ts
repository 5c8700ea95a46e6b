// The instructor dashboard: the token form, the new-training form, the live roster and its
// actions. The roster is redrawn from each snapshot the server streams, so it never drifts.
import { InstructorApi, type RosterEntry, type RosterSnapshot, type TrainingInfo } from './instructor-api.ts';
import type { TerminalView } from './instructor-viewer.ts';

const TOKEN_KEY = 'ddevlab-instructor-token';
/** Wait before opening the live roster again after its stream broke. */
const RECONNECT_MS = 2_000;

export function mountDashboard(root: HTMLElement): void {
  const status = root.querySelector<HTMLElement>('.instructor-status')!;
  const login = root.querySelector<HTMLFormElement>('.instructor-login')!;
  const setStatus = (message: string) => (status.textContent = message);

  const open = async (token: string) => {
    const api = new InstructorApi(token);
    try {
      const labs = await api.call<{ id: string; title: string }[]>('GET', '/labs');
      sessionStorage.setItem(TOKEN_KEY, token);
      login.hidden = true;
      setStatus('');
      await showDashboard(root, api, labs, setStatus);
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      login.hidden = false;
      setStatus((error as Error).message);
    }
  };

  login.addEventListener('submit', (event) => {
    event.preventDefault();
    void open(String(new FormData(login).get('token') ?? '').trim());
  });

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) void open(saved);
}

async function showDashboard(root: HTMLElement, api: InstructorApi, labs: { id: string; title: string }[], setStatus: (message: string) => void) {
  const main = root.querySelector<HTMLElement>('.instructor-main')!;
  const select = root.querySelector<HTMLSelectElement>('.instructor-trainings')!;
  const createForm = root.querySelector<HTMLFormElement>('.instructor-create-form')!;
  main.hidden = false;

  root.querySelector('.instructor-lab-choices')!.replaceChildren(
    ...labs.map((lab, index) => {
      const label = document.createElement('label');
      label.innerHTML = `<input type="checkbox" name="labs" ${index === 0 ? 'checked' : ''}> `;
      const box = label.querySelector('input')!;
      box.value = lab.id;
      box.dataset.testid = `training-lab-${lab.id}`;
      label.append(lab.title);
      return label;
    }),
  );

  let following: AbortController | undefined;
  const follow = (trainingId: string) => {
    following?.abort();
    following = new AbortController();
    void followRoster(root, api, trainingId, following.signal, setStatus);
  };

  const refreshList = async (selectId?: string) => {
    const trainings = await api.call<TrainingInfo[]>('GET', '/trainings');
    select.replaceChildren(
      ...trainings.map((training) => new Option(`${training.name}${training.open ? '' : ' (ended)'}`, training.id)),
    );
    const chosen = selectId ?? trainings.find((training) => training.open)?.id ?? trainings[0]?.id;
    if (chosen) {
      select.value = chosen;
      follow(chosen);
    }
  };

  select.addEventListener('change', () => follow(select.value));
  createForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(createForm);
    try {
      const training = await api.call<TrainingInfo>('POST', '/trainings', {
        name: data.get('name'),
        labs: data.getAll('labs'),
        minutes: Number(data.get('minutes')),
        expectedLearners: Number(data.get('expectedLearners')),
      });
      root.querySelector<HTMLDetailsElement>('.instructor-create')!.open = false;
      await refreshList(training.id);
      setStatus(`Training "${training.name}" created. Its join code is ${training.joinCode}.`);
    } catch (error) {
      setStatus((error as Error).message);
    }
  });

  await refreshList();
}

/** Follows one training's live roster until aborted, reopening the stream when it breaks. */
async function followRoster(root: HTMLElement, api: InstructorApi, trainingId: string, signal: AbortSignal, setStatus: (message: string) => void) {
  const viewer = { current: undefined as TerminalView | undefined };
  while (!signal.aborted) {
    try {
      await api.follow(trainingId, (snapshot) => render(root, api, snapshot, viewer, setStatus), signal);
    } catch (error) {
      if (signal.aborted) return;
      setStatus(`${(error as Error).message} Reconnecting…`);
    }
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
}

function render(root: HTMLElement, api: InstructorApi, snapshot: RosterSnapshot, viewer: { current: TerminalView | undefined }, setStatus: (message: string) => void) {
  const box = root.querySelector<HTMLElement>('.instructor-training')!;
  box.hidden = false;
  box.querySelector('.instructor-code')!.textContent = snapshot.joinCode;
  box.querySelector('.instructor-links')!.replaceChildren(
    ...snapshot.joinUrls.map((url) => {
      const link = document.createElement('a');
      link.href = url;
      link.textContent = url;
      return link;
    }),
  );
  const ends = new Date(snapshot.endedAt ?? snapshot.endsAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  box.querySelector('.instructor-ends')!.textContent = snapshot.open ? `Ends at ${ends}. Labs: ${snapshot.labs.map((lab) => lab.title).join(', ')}.` : `Ended at ${ends}.`;

  const endButton = box.querySelector<HTMLButtonElement>('.instructor-end-training')!;
  endButton.hidden = !snapshot.open;
  endButton.onclick = async () => {
    if (!window.confirm(`End "${snapshot.name}"? Every learner's containers are removed; progress is kept.`)) return;
    await act(api, 'POST', `/trainings/${snapshot.id}/end`, setStatus, 'The training has ended.');
  };

  root.querySelector('[data-testid="roster"]')!.replaceChildren(...snapshot.learners.map((entry) => row(root, api, entry, viewer, setStatus)));
}

function row(root: HTMLElement, api: InstructorApi, entry: RosterEntry, viewer: { current: TerminalView | undefined }, setStatus: (message: string) => void): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.testid = 'roster-row';
  tr.dataset.name = entry.name;
  tr.dataset.connected = String(entry.connected);

  const cells = [
    entry.name,
    entry.lab?.title ?? '—',
    entry.step ? `${entry.step.number} of ${entry.step.of}: ${entry.step.title}` : entry.lab ? 'all done' : '—',
    `${entry.stepsPassed} of ${entry.stepsTotal}`,
    entry.session ? clock(entry.session.secondsLeft) : 'no session',
    entry.connected ? 'yes' : 'no',
  ];
  const names = ['name', 'lab', 'step', 'passed', 'left', 'connected'];
  for (const [index, text] of cells.entries()) {
    const td = document.createElement('td');
    td.textContent = text;
    td.dataset.testid = `cell-${names[index]}`;
    tr.append(td);
  }

  const actions = document.createElement('td');
  const session = entry.session;
  if (session) {
    actions.append(
      button('Add time', 'extend', () => act(api, 'POST', `/sessions/${session.id}/extend`, setStatus, `${entry.name} has more time.`)),
      button('Reset', 'reset', async () => {
        if (!window.confirm(`Reset ${entry.name}'s lab? Their containers are replaced and their progress in this lab is cleared.`)) return;
        await act(api, 'POST', `/sessions/${session.id}/reset`, setStatus, `${entry.name}'s lab starts again.`);
      }),
      button('End', 'end', async () => {
        if (!window.confirm(`End ${entry.name}'s session? Their progress is kept.`)) return;
        await act(api, 'POST', `/sessions/${session.id}/end`, setStatus, `${entry.name}'s session has ended.`);
      }),
      ...session.terminals.map((terminal) =>
        button(`Watch ${terminal.title}`, `watch-${terminal.id}`, () => watch(root, api, entry, session.id, terminal, viewer, setStatus)),
      ),
    );
  }
  tr.append(actions);
  return tr;
}

async function watch(
  root: HTMLElement,
  api: InstructorApi,
  entry: RosterEntry,
  sessionId: string,
  terminal: { id: string; title: string },
  viewer: { current: TerminalView | undefined },
  setStatus: (message: string) => void,
): Promise<void> {
  const panel = root.querySelector<HTMLElement>('.instructor-viewer')!;
  const { openView } = await import('./instructor-viewer.ts');
  viewer.current?.dispose();
  panel.hidden = false;
  panel.querySelector('.instructor-viewer-title')!.textContent = `${entry.name}: ${terminal.title}`;
  viewer.current = openView(panel.querySelector('.instructor-viewer-screen')!, `/ws/instructor/sessions/${sessionId}/terminals/${terminal.id}`, api.subprotocols, setStatus);
  panel.querySelector<HTMLButtonElement>('.instructor-viewer-close')!.onclick = () => {
    viewer.current?.dispose();
    viewer.current = undefined;
    panel.hidden = true;
  };
}

async function act(api: InstructorApi, method: string, path: string, setStatus: (message: string) => void, done: string): Promise<void> {
  try {
    await api.call(method, path);
    setStatus(done);
  } catch (error) {
    setStatus((error as Error).message);
  }
}

function button(label: string, action: string, run: () => unknown): HTMLButtonElement {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = label;
  element.dataset.testid = `action-${action}`;
  element.addEventListener('click', () => void run());
  return element;
}

function clock(seconds: number): string {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}
