// The pool of ready sandboxes on the real Docker Engine: filled from LAB_POOL with labelled
// sandboxes, handed to a learner's Start, refilled, held to the session limit, and removed at
// shutdown and by the next start after a crash.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';

import { LABELS, labelFilter } from '../../lab-server/src/sandbox/labels.ts';
import { docker, listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { TestTerminal } from '../helpers/terminal-client.ts';

const POOLED = 'pool-base';
const OTHER = 'pool-other';

/** A lab of one container of the small base image, under the given id. */
function baseLab(id: string) {
  return {
    id,
    title: `Pool test ${id}`,
    summary: 'One container of the base image.',
    minutes: 5,
    services: { shell: { image: 'base', command: ['sleep', 'infinity'], user: 'root' } },
    terminals: [{ id: 'shell', title: 'shell', service: 'shell', user: 'root' }],
    steps: [
      {
        id: 'ready',
        title: 'Ready',
        body: 'Nothing to do.',
        check: { service: 'shell', run: 'true' },
        hints: ['None.'],
        solution: 'true',
      },
    ],
  };
}

async function pooledSessionIds(instance: string, labId = POOLED): Promise<string[]> {
  const filters = JSON.stringify(
    labelFilter({
      [LABELS.managed]: 'true',
      [LABELS.instance]: instance,
      [LABELS.lab]: labId,
      [LABELS.pool]: 'true',
    }),
  );
  const containers = await docker.listContainers({ all: true, filters });
  return containers.map((info) => info.Labels[LABELS.session]!);
}

/** Sandboxes the server's pool has started, from its log; Docker shows containers sooner. */
function poolStarts(server: RunningServer): number {
  return server.output().split('pooled sandbox started').length - 1;
}

/** Polls until the predicate holds, or fails the test after `timeoutMs`. */
async function eventually(
  what: string,
  predicate: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function startSession(
  server: RunningServer,
  labId: string,
): Promise<{ status: number; sessionId: string; token: string }> {
  const response = await fetch(`${server.url}/api/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ labId }),
  });
  return {
    status: response.status,
    ...((await response.json()) as { sessionId: string; token: string }),
  };
}

describe('sandbox pool on Docker', () => {
  const instance = uniqueInstance('it-pool');
  let labsDir: string;

  before(async () => {
    labsDir = await mkdtemp(path.join(tmpdir(), 'ddev-lab-pool-labs-'));
    await writeFile(path.join(labsDir, `${POOLED}.yaml`), stringify(baseLab(POOLED)));
    await writeFile(path.join(labsDir, `${OTHER}.yaml`), stringify(baseLab(OTHER)));
  });

  after(async () => {
    await removeInstance(instance);
    await rm(labsDir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string>) => ({
    LAB_DATABASE: ':memory:',
    LAB_LABS_DIR: labsDir,
    ...extra,
  });

  test('start takes a pooled sandbox and the pool refills', async () => {
    await using server = await startLabServer({ instance, env: env({ LAB_POOL: `${POOLED}:2` }) });
    await eventually('two pooled sandboxes', async () => poolStarts(server) === 2);
    const pooled = await pooledSessionIds(instance);

    const session = await startSession(server, POOLED);
    await using terminal = await TestTerminal.open(server.url, session.sessionId, session.token, {
      terminalId: 'shell',
    });
    terminal.type('echo pooled-$((40+2))\r');
    await terminal.waitFor(/pooled-42/);

    assert.equal(session.status, 201);
    assert.ok(pooled.includes(session.sessionId), 'the session did not get a pooled sandbox');
    await eventually('a third pooled sandbox', async () => poolStarts(server) === 3);
    assert.equal((await pooledSessionIds(instance)).length, 3);
    const network = (await listManaged(instance, session.sessionId)).networks[0]!;
    assert.equal(network.Labels?.[LABELS.pool], 'true');
  });

  test('pool stays within the session limit', async () => {
    await using server = await startLabServer({
      instance,
      env: env({ LAB_POOL: `${POOLED}:5`, LAB_MAX_SESSIONS: '2' }),
    });
    await eventually('two pooled sandboxes', async () => poolStarts(server) === 2);
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const held = await pooledSessionIds(instance);
    const other = await startSession(server, OTHER);

    assert.equal(held.length, 2, 'the pool grew past LAB_MAX_SESSIONS');
    assert.equal(
      other.status,
      201,
      'a learner of another lab found the server full of pooled sandboxes',
    );
    await eventually(
      'one pooled sandbox left for the other learner',
      async () => (await pooledSessionIds(instance)).length === 1,
    );
  });

  test('shutdown removes pooled sandboxes', async () => {
    await using server = await startLabServer({ instance, env: env({ LAB_POOL: `${POOLED}:2` }) });
    await eventually('a pooled sandbox started', async () => poolStarts(server) >= 1);

    await server.kill('SIGTERM');

    const left = await listManaged(instance);
    assert.equal(left.containers.length, 0);
    assert.equal(left.networks.length, 0);
  });

  test('restart after SIGKILL sweeps pooled leftovers', async () => {
    await using first = await startLabServer({ instance, env: env({ LAB_POOL: `${POOLED}:2` }) });
    await eventually('two pooled sandboxes', async () => poolStarts(first) === 2);
    await first.kill('SIGKILL');

    await using second = await startLabServer({ instance, env: env({}) });

    assert.deepEqual(await pooledSessionIds(instance), []);
    assert.match(second.output(), /running at/);
  });

  test('an unknown lab in LAB_POOL stops the start', async () => {
    await assert.rejects(
      startLabServer({ instance, env: env({ LAB_POOL: 'no-such-lab:1' }) }),
      /LAB_POOL names "no-such-lab"/,
    );
  });
});
