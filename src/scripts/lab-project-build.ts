// Restart and Preview Dockerfile on the lab page. Restart reads the server's stream of
// newline-delimited JSON events (phases, the generated Dockerfile, builder output, then done or
// error) into the build panel. When the server has replaced the container, the page opens new
// shells in it, because the old shells ended with the old container.
import { ApiError, type SessionInfo } from './lab-api.ts';
import { ProjectBuildView, type ImageLayer } from './lab-project-build-view.ts';

type RestartEvent =
  | { type: 'phase'; phase: string; message: string }
  | { type: 'dockerfile'; text: string; skipped: string[] }
  | { type: 'line'; line: string }
  | { type: 'done'; tag: string; imageId: string; layers: ImageLayer[]; seconds: number }
  | {
      type: 'error';
      status: number;
      error: string;
      message: string;
      step?: string;
      source?: string;
    };

interface DockerfilePreview {
  tag: string;
  dockerfile: string;
  skipped: string[];
  contextFiles: string[];
}

export interface ProjectBuildOptions {
  root: HTMLElement;
  /** The lab service whose container Restart recreates. */
  service: string;
  session(): SessionInfo | undefined;
  /** Called once the server starts replacing the container, and with false when it did not. */
  onReplacing(active: boolean): void;
  /** Called after the server replaced the container, to open new shells in the new one. */
  onReplaced(): Promise<void>;
  setStatus(message: string): void;
}

export interface ProjectBuildControls {
  /** Shows or hides the controls with the session, and empties the panel when it ends. */
  setRunning(running: boolean): void;
}

export function mountProjectBuild(options: ProjectBuildOptions): ProjectBuildControls {
  const view = new ProjectBuildView(options.root);
  const bar = options.root.querySelector<HTMLElement>('.lab-build-bar')!;
  const restartButton = bar.querySelector<HTMLButtonElement>('.lab-build-restart')!;
  const previewButton = bar.querySelector<HTMLButtonElement>('.lab-build-preview')!;

  const busy = async (work: () => Promise<void>) => {
    restartButton.disabled = true;
    previewButton.disabled = true;
    try {
      await work();
    } finally {
      restartButton.disabled = false;
      previewButton.disabled = false;
    }
  };

  restartButton.addEventListener('click', () => {
    const session = options.session();
    if (session) void busy(() => restart(options, view, session));
  });
  previewButton.addEventListener('click', () => {
    const session = options.session();
    if (session) void busy(() => preview(options, view, session));
  });

  return {
    setRunning: (running) => {
      bar.hidden = !running;
      if (!running) view.clear();
    },
  };
}

async function restart(
  options: ProjectBuildOptions,
  view: ProjectBuildView,
  session: SessionInfo,
): Promise<void> {
  view.begin(`Restart of the ${options.service} container`);
  view.addPhase('requested', 'Restart requested…');
  let replacing = false;

  try {
    const response = await fetch(`/api/sessions/${session.sessionId}/restart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.token}` },
      credentials: 'same-origin',
    });
    if (!response.ok || !response.body) throw await errorOf(response);

    for await (const event of readEvents(response.body)) {
      if (event.type === 'phase' && event.phase === 'recreating') {
        replacing = true;
        options.onReplacing(true);
      }
      await show(options, view, event);
    }
    if (view.outcome === 'running')
      view.fail('The lab server ended the Restart without a result. Press Restart again.');
  } catch (error) {
    view.fail(error instanceof ApiError ? error.message : `The Restart failed: ${String(error)}`);
  } finally {
    if (replacing && view.outcome !== 'done') options.onReplacing(false);
  }
}

async function show(
  options: ProjectBuildOptions,
  view: ProjectBuildView,
  event: RestartEvent,
): Promise<void> {
  switch (event.type) {
    case 'phase':
      view.addPhase(event.phase, `${event.message}…`);
      break;
    case 'dockerfile':
      view.showDockerfile(event.text, skippedNote(event.skipped));
      break;
    case 'line':
      view.addLine(event.line);
      break;
    case 'done': {
      const message = `Done in ${event.seconds} s: the ${options.service} container now runs ${event.tag}. Its terminals are new shells in it.`;
      view.finish(message, event.layers);
      await options.onReplaced();
      options.setStatus(
        `The ${options.service} container was recreated from ${event.tag}. Your terminal is a new shell in it.`,
      );
      break;
    }
    case 'error':
      // The message is shown once, in the build panel, and the bar above the steps points to it.
      view.fail(event.message, { step: event.step, source: event.source });
      break;
  }
}

async function preview(
  options: ProjectBuildOptions,
  view: ProjectBuildView,
  session: SessionInfo,
): Promise<void> {
  view.begin(`Preview of the ${options.service} Dockerfile`);
  view.addPhase('reading', 'Reading .ddev/config.yaml and .ddev/web-build…');

  try {
    const response = await fetch(`/api/sessions/${session.sessionId}/restart/dockerfile`, {
      headers: { authorization: `Bearer ${session.token}` },
      credentials: 'same-origin',
    });
    if (!response.ok) throw await errorOf(response);

    const result = (await response.json()) as DockerfilePreview;
    const context =
      result.contextFiles.length > 0 ? ` Build context: ${result.contextFiles.join(', ')}.` : '';
    view.showDockerfile(
      result.dockerfile,
      `${skippedNote(result.skipped)}${context}`.trim(),
      result.tag,
    );
    view.finish('Preview ready: this is what Restart would build. Nothing was built.', []);
  } catch (error) {
    view.fail(error instanceof ApiError ? error.message : `The preview failed: ${String(error)}`);
  }
}

/** Yields the JSON events of a newline-delimited stream as their lines complete. */
async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<RestartEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = '';

  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.trim()) yield JSON.parse(line) as RestartEvent;
    }
  }
  if (pending.trim()) yield JSON.parse(pending) as RestartEvent;
}

/** Turns a reply sent before the stream began (409 BuildBusy, 503 BuildsBusy, 401, 404) into an ApiError. */
async function errorOf(response: Response): Promise<ApiError> {
  const payload = (await response.json().catch(() => ({}))) as { message?: string };
  return new ApiError(
    response.status,
    payload.message ?? `The lab server replied ${response.status}.`,
  );
}

function skippedNote(skipped: readonly string[]): string {
  return skipped.length > 0
    ? `Skipped, because their names end in .example: ${skipped.join(', ')}.`
    : '';
}
