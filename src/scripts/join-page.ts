// The join page: sends the code and name, then lists the training's labs with links. A learner
// who already joined sees the list at once; the code from a join link is filled in.
interface JoinedTraining {
  id: string;
  name: string;
  endsAt: string;
  labs: { id: string; title: string; url: string }[];
}

export function mountJoin(root: HTMLElement): void {
  const form = root.querySelector<HTMLFormElement>('.join-form')!;
  const status = root.querySelector<HTMLElement>('.join-status')!;
  const code = form.elements.namedItem('code') as HTMLInputElement;
  code.value = new URLSearchParams(location.search).get('code') ?? '';

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    status.textContent = 'Joining…';
    try {
      const training = await post('/api/trainings/join', {
        code: data.get('code'),
        name: data.get('name'),
      });
      show(root, training);
      status.textContent = 'You have joined. Open the first lab below.';
    } catch (error) {
      status.textContent = (error as Error).message;
    }
  });

  void fetch('/api/trainings/mine', { credentials: 'same-origin' })
    .then((response) => (response.ok ? response.json() : { training: null }))
    .then((mine: { training: JoinedTraining | null }) => {
      if (mine.training) show(root, mine.training);
    })
    .catch(() => undefined);
}

function show(root: HTMLElement, training: JoinedTraining): void {
  const box = root.querySelector<HTMLElement>('.join-training')!;
  box.querySelector('.join-training-name')!.textContent = training.name;
  box.querySelector('.join-labs')!.replaceChildren(
    ...training.labs.map((lab) => {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.href = lab.url;
      link.textContent = lab.title;
      link.dataset.testid = `join-lab-${lab.id}`;
      item.append(link);
      return item;
    }),
  );
  box.hidden = false;
}

async function post(url: string, body: unknown): Promise<JoinedTraining> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok)
    throw new Error(payload.message ?? `The lab server replied ${response.status}.`);
  return payload as JoinedTraining;
}
