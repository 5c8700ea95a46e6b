// Time from "start lab" to the first byte of the prompt in a headless terminal client: cold, with
// a warm pool, for one learner at a time and for a room starting together.
import { LABELS, labelFilter } from '../../lab-server/src/sandbox/labels.ts';
import { docker } from '../helpers/docker.ts';
import type { RunningServer } from '../helpers/lab-server.ts';
import { BenchTerminal, type BenchSession } from './bench-client.ts';

/** Any output ending in a shell prompt. */
const PROMPT = /\$ $/;

export interface OpenLab {
  ms: number;
  session: BenchSession;
  terminal: BenchTerminal;
}

export async function startSession(server: RunningServer, labId: string): Promise<BenchSession> {
  const response = await fetch(`${server.url}/api/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ labId }),
  });
  if (response.status !== 201)
    throw new Error(`starting ${labId} failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as BenchSession;
}

export async function stopSession(server: RunningServer, session: BenchSession): Promise<void> {
  await fetch(`${server.url}/api/sessions/${session.sessionId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${session.token}` },
  });
}

export async function closeAll(server: RunningServer, open: OpenLab[]): Promise<void> {
  for (const { session, terminal } of open) {
    terminal.close();
    await stopSession(server, session);
  }
}

/** Starts a lab, opens its terminal and returns milliseconds from the request to the first output byte. */
export async function timeToPrompt(
  server: RunningServer,
  labId: string,
  terminalId: string,
): Promise<OpenLab> {
  const started = performance.now();
  const session = await startSession(server, labId);
  const terminal = await BenchTerminal.open(server.url, session, terminalId);
  await terminal.waitFor(PROMPT);
  return { ms: terminal.firstOutputAt! - started, session, terminal };
}

/** Starts and stops the lab `runs` times, one after the other. */
export async function sequentialStarts(
  server: RunningServer,
  labId: string,
  runs: number,
  beforeEach?: () => Promise<void>,
): Promise<number[]> {
  const samples: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    await beforeEach?.();
    const open = await timeToPrompt(server, labId, 'web');
    samples.push(open.ms);
    await closeAll(server, [open]);
  }
  return samples;
}

/** `learners` starts spread evenly over `spreadMs`, all kept open. */
export async function roomStarts(
  server: RunningServer,
  labId: string,
  learners: number,
  spreadMs: number,
): Promise<OpenLab[]> {
  return Promise.all(
    Array.from({ length: learners }, async (_unused, index) => {
      await new Promise((resolve) => setTimeout(resolve, (index * spreadMs) / learners));
      return timeToPrompt(server, labId, 'web');
    }),
  );
}

/**
 * Waits until the server's pool holds `size` sandboxes of the lab that no learner took: pooled
 * web containers, found by label, whose session is not running.
 */
export async function waitForPool(
  server: RunningServer,
  labId: string,
  size: number,
  taken: Set<string>,
  timeoutMs = 180_000,
): Promise<void> {
  const filters = JSON.stringify(
    labelFilter({
      [LABELS.managed]: 'true',
      [LABELS.instance]: server.instance,
      [LABELS.lab]: labId,
      [LABELS.pool]: 'true',
      [LABELS.service]: 'web',
    }),
  );
  const deadline = Date.now() + timeoutMs;

  while (Date.now() < deadline) {
    const containers = await docker.listContainers({ filters });
    const idle = containers.filter((info) => !taken.has(info.Labels[LABELS.session] ?? ''));
    if (idle.length >= size) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `the pool of ${labId} did not reach ${size} ready sandboxes within ${timeoutMs / 1000} s`,
  );
}

/** Waits until no container of the server still runs its first health checks, so a room is idle. */
export async function waitForSettled(server: RunningServer, timeoutMs = 180_000): Promise<void> {
  const labels = labelFilter({ [LABELS.managed]: 'true', [LABELS.instance]: server.instance });
  const filters = JSON.stringify({ ...labels, health: ['starting'] });
  const deadline = Date.now() + timeoutMs;

  while (Date.now() < deadline) {
    if ((await docker.listContainers({ filters })).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(
    `the containers of ${server.instance} were still starting after ${timeoutMs / 1000} s`,
  );
}
