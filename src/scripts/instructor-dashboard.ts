// The instructor dashboard: the token form, the new-training form, the live roster and its
// actions. The roster is redrawn from each snapshot the server streams, so it never drifts.
import { InstructorApi, type TrainingInfo } from './instructor-api.ts';
import { renderRoster, type RosterContext } from './instructor-roster.ts';

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

async function showDashboard(
  root: HTMLElement,
  api: InstructorApi,
  labs: { id: string; title: string }[],
  setStatus: (message: string) => void,
) {
  const main = root.querySelector<HTMLElement>('.instructor-main')!;
  const select = root.querySelector<HTMLSelectElement>('.instructor-trainings')!;
  const createForm = root.querySelector<HTMLFormElement>('.instructor-create-form')!;
  main.hidden = false;

  root
    .querySelector('.instructor-lab-choices')!
    .replaceChildren(...labChoices(labs, guideOrderOf(root)));

  let following: AbortController | undefined;
  const follow = (trainingId: string) => {
    following?.abort();
    following = new AbortController();
    void followRoster(root, api, trainingId, following.signal, setStatus);
  };

  const refreshList = async (selectId?: string) => {
    const trainings = await api.call<TrainingInfo[]>('GET', '/trainings');
    select.replaceChildren(
      ...trainings.map(
        (training) => new Option(`${training.name}${training.open ? '' : ' (ended)'}`, training.id),
      ),
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

/** Lab ids in the order of the guide's Labs section, as the page was built with them. */
function guideOrderOf(root: HTMLElement): string[] {
  try {
    return JSON.parse(root.dataset.labOrder ?? '[]') as string[];
  } catch {
    return [];
  }
}

/**
 * Builds one checkbox per lab, in the guide's order, with labs the guide does not list last. Only
 * the first is ticked, so a training starts as the guide does unless the instructor picks others.
 */
function labChoices(
  labs: { id: string; title: string }[],
  guideOrder: string[],
): HTMLLabelElement[] {
  const rank = (id: string) =>
    guideOrder.includes(id) ? guideOrder.indexOf(id) : guideOrder.length;
  const ordered = [...labs].sort(
    (a, b) => rank(a.id) - rank(b.id) || a.title.localeCompare(b.title),
  );

  return ordered.map((lab, index) => {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.name = 'labs';
    box.value = lab.id;
    box.checked = index === 0;
    box.dataset.testid = `training-lab-${lab.id}`;
    label.append(box, lab.title);
    return label;
  });
}

/** Follows one training's live roster until aborted, reopening the stream when it breaks. */
async function followRoster(
  root: HTMLElement,
  api: InstructorApi,
  trainingId: string,
  signal: AbortSignal,
  setStatus: (message: string) => void,
) {
  const context: RosterContext = { root, api, setStatus, viewer: { current: undefined } };
  while (!signal.aborted) {
    try {
      await api.follow(trainingId, (snapshot) => renderRoster(context, snapshot), signal);
    } catch (error) {
      if (signal.aborted) return;
      setStatus(`${(error as Error).message} Reconnecting…`);
    }
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
}
