// The live part of the instructor dashboard: the join code and links, the training's end, and one
// row per learner with the actions on their lab session. Redrawn whole from each snapshot.
import type { InstructorApi, RosterEntry, RosterSnapshot } from './instructor-api.ts';
import type { TerminalView } from './instructor-viewer.ts';

export interface RosterContext {
  root: HTMLElement;
  api: InstructorApi;
  setStatus: (message: string) => void;
  /** The read-only terminal view that is open. At most one is open at a time. */
  viewer: { current: TerminalView | undefined };
}

/** Column names, shown beside each value when the narrow layout stacks a row into a card. */
const COLUMNS = [
  ['name', 'Name'],
  ['lab', 'Current lab'],
  ['step', 'Step in current lab'],
  ['passed', 'Steps passed in all labs'],
  ['left', 'Lab session time left'],
  ['connected', 'Connected'],
] as const;

export function renderRoster(context: RosterContext, snapshot: RosterSnapshot): void {
  const box = context.root.querySelector<HTMLElement>('.instructor-training')!;
  box.hidden = false;
  box.querySelector('.instructor-code')!.textContent = snapshot.joinCode;
  box.querySelector('.instructor-links')!.replaceChildren(...snapshot.joinUrls.map(linkItem));
  box.querySelector('.instructor-ends')!.textContent = endsText(snapshot);
  const timeNote = box.querySelector<HTMLElement>('[data-testid="time-note"]')!;
  timeNote.hidden = snapshot.learners.length === 0;
  timeNote.textContent =
    `Time left is each learner's lab session, which runs on its own clock: Add time gives it ${snapshot.addTimeMinutes} more minutes, ` +
    "up to the server's limit per session, and does not move the training's end.";

  const endButton = box.querySelector<HTMLButtonElement>('.instructor-end-training')!;
  endButton.hidden = !snapshot.open;
  endButton.onclick = async () => {
    if (
      !window.confirm(
        `End "${snapshot.name}"? Every learner's containers are removed; progress is kept.`,
      )
    )
      return;
    await act(context, 'POST', `/trainings/${snapshot.id}/end`, 'The training has ended.');
  };

  const empty = box.querySelector<HTMLElement>('.instructor-empty')!;
  empty.hidden = snapshot.learners.length > 0;
  empty.textContent = `No learners have joined yet. They join with the code ${snapshot.joinCode} at the join link above.`;
  box.querySelector<HTMLElement>('.instructor-roster-scroll')!.hidden =
    snapshot.learners.length === 0;
  box
    .querySelector('[data-testid="roster"]')!
    .replaceChildren(...snapshot.learners.map((entry) => row(context, snapshot, entry)));
}

function linkItem(url: string): HTMLLIElement {
  const item = document.createElement('li');
  const link = document.createElement('a');
  link.href = url;
  link.textContent = url;
  item.append(link);
  return item;
}

function endsText(snapshot: RosterSnapshot): string {
  if (!snapshot.open) return `Ended at ${timeOf(snapshot.endedAt ?? snapshot.endsAt)}.`;
  const labs = snapshot.labs.map((lab) => lab.title).join(', ');
  return `The training ends at ${timeOf(snapshot.endsAt)}: joining closes then, and lab sessions run until their own time is up. Labs: ${labs}.`;
}

function row(
  context: RosterContext,
  snapshot: RosterSnapshot,
  entry: RosterEntry,
): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.testid = 'roster-row';
  tr.dataset.name = entry.name;
  tr.dataset.connected = String(entry.connected);

  const values: Record<(typeof COLUMNS)[number][0], string> = {
    name: entry.name,
    lab: entry.lab?.title ?? '—',
    step: stepText(entry),
    passed: `${entry.stepsPassed} of ${entry.stepsTotal}`,
    left: entry.session ? clock(entry.session.secondsLeft) : 'no session',
    connected: entry.connected ? 'yes' : 'no',
  };
  for (const [key, label] of COLUMNS) tr.append(cell(key, label, values[key]));

  const actions = cell('actions', 'Actions', '');
  const buttons = document.createElement('div');
  buttons.className = 'instructor-actions';
  if (entry.session) buttons.append(...sessionButtons(context, snapshot, entry, entry.session));
  actions.append(buttons);
  tr.append(actions);
  return tr;
}

function stepText(entry: RosterEntry): string {
  if (entry.step) return `${entry.step.number} of ${entry.step.of}: ${entry.step.title}`;
  return entry.lab ? 'all done' : '—';
}

function cell(key: string, label: string, text: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  td.dataset.testid = `cell-${key}`;
  td.dataset.label = label;
  return td;
}

function sessionButtons(
  context: RosterContext,
  snapshot: RosterSnapshot,
  entry: RosterEntry,
  session: NonNullable<RosterEntry['session']>,
): HTMLButtonElement[] {
  const path = `/sessions/${session.id}`;
  return [
    button('Add time', 'extend', async () => {
      const extended = await act<{ expiresAt: string }>(context, 'POST', `${path}/extend`);
      if (extended) context.setStatus(extendedText(entry.name, extended.expiresAt, snapshot));
    }),
    button('Reset', 'reset', async () => {
      if (
        !window.confirm(
          `Reset ${entry.name}'s lab? Their containers are replaced and their progress in this lab is cleared.`,
        )
      )
        return;
      await act(context, 'POST', `${path}/reset`, `${entry.name}'s lab starts again.`);
    }),
    button('End', 'end', async () => {
      if (!window.confirm(`End ${entry.name}'s session? Their progress is kept.`)) return;
      await act(context, 'POST', `${path}/end`, `${entry.name}'s session has ended.`);
    }),
    ...session.terminals.map((terminal) =>
      button(`Watch ${terminal.title}`, `watch-${terminal.id}`, () =>
        watch(context, entry, session.id, terminal),
      ),
    ),
  ];
}

/** Builds the status line after Add time: when the lab session now ends, and if that is past the training's end. */
function extendedText(name: string, expiresAt: string, snapshot: RosterSnapshot): string {
  const after = snapshot.open && Date.parse(expiresAt) > Date.parse(snapshot.endsAt);
  const note = after ? `, after the training's end at ${timeOf(snapshot.endsAt)}` : '';
  return `${name}'s lab session now ends at ${timeOf(expiresAt)}${note}.`;
}

async function watch(
  context: RosterContext,
  entry: RosterEntry,
  sessionId: string,
  terminal: { id: string; title: string },
): Promise<void> {
  const panel = context.root.querySelector<HTMLElement>('.instructor-viewer')!;
  const { openView } = await import('./instructor-viewer.ts');
  const { viewer } = context;
  viewer.current?.dispose();
  panel.hidden = false;
  panel.querySelector('.instructor-viewer-title')!.textContent = `${entry.name}: ${terminal.title}`;
  const url = `/ws/instructor/sessions/${sessionId}/terminals/${terminal.id}`;
  viewer.current = openView(
    panel.querySelector('.instructor-viewer-screen')!,
    url,
    context.api.subprotocols,
    context.setStatus,
  );
  panel.querySelector<HTMLButtonElement>('.instructor-viewer-close')!.onclick = () => {
    viewer.current?.dispose();
    viewer.current = undefined;
    panel.hidden = true;
  };
}

/** Calls the API and shows `done` or the error. Returns the reply, or undefined after an error. */
async function act<T>(
  context: RosterContext,
  method: string,
  path: string,
  done?: string,
): Promise<T | undefined> {
  try {
    const reply = await context.api.call<T>(method, path);
    if (done) context.setStatus(done);
    return reply;
  } catch (error) {
    context.setStatus((error as Error).message);
    return undefined;
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

function timeOf(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function clock(seconds: number): string {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}
