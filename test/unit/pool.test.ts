import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';

import { InvalidRequestError } from '../../lab-server/src/errors.ts';
import type { Sandbox } from '../../lab-server/src/sandbox/runtime.ts';
import { SandboxPool, type PoolDeps } from '../../lab-server/src/sessions/pool.ts';

/** Pool dependencies that record starts and removals; `room` caps what fits. */
function fakeDeps(overrides: Partial<PoolDeps> = {}) {
  const started: string[] = [];
  const removed: string[] = [];
  const state = { room: 100 };
  const deps: PoolDeps = {
    start: async (labId, id) => {
      started.push(id);
      return {
        sessionId: id,
        networkId: `net-${labId}`,
        containers: { web: `container-${id}` },
      } satisfies Sandbox;
    },
    warm: async () => undefined,
    remove: async (id) => void removed.push(id),
    hasRoom: () => started.length - removed.length < state.room,
    log: pino({ level: 'silent' }),
    maxIdleMs: 60_000,
    concurrency: 2,
    ...overrides,
  };
  return { deps, started, removed, state };
}

/** Lets the pool's deferred fills and the starts they begin run to the end. */
async function settle(rounds = 20): Promise<void> {
  for (let round = 0; round < rounds; round += 1)
    await new Promise((resolve) => setImmediate(resolve));
}

describe('sandbox pool', () => {
  test('fills to its target', async () => {
    const { deps, started } = fakeDeps();
    const pool = new SandboxPool(deps);

    pool.setTarget('lab', 3);
    await settle();

    assert.equal(started.length, 3);
    assert.deepEqual(pool.counts('lab'), { target: 3, ready: 3, starting: 0 });
    assert.equal(pool.size, 3);
    await pool.dispose();
  });

  test('take hands out and refills', async () => {
    const { deps, started } = fakeDeps();
    const pool = new SandboxPool(deps);
    pool.setTarget('lab', 2);
    await settle();

    const taken = pool.take('lab');
    await settle();

    assert.ok(taken);
    assert.equal(taken.labId, 'lab');
    assert.equal(taken.sandbox.sessionId, taken.id);
    assert.equal(started.length, 3);
    assert.equal(pool.counts('lab').ready, 2);
    assert.equal(pool.take('other'), undefined);
    await pool.dispose();
  });

  test('warm sandboxes go first', async () => {
    const warmed = new Map<string, () => void>();
    const { deps } = fakeDeps({
      warm: (_labId, sandbox) => new Promise((resolve) => warmed.set(sandbox.sessionId, resolve)),
    });
    const pool = new SandboxPool(deps);
    pool.setTarget('lab', 2);
    await settle();
    const [, second] = [...warmed.keys()];

    warmed.get(second!)!();
    await settle();
    const taken = pool.take('lab');

    assert.equal(taken?.id, second);
    assert.equal(taken?.isWarm, true);
    await pool.dispose();
  });

  test('stops at the session limit', async () => {
    const { deps, started, state } = fakeDeps();
    state.room = 2;
    const pool = new SandboxPool(deps);

    pool.setTarget('lab', 5);
    await settle();

    assert.equal(started.length, 2);
    assert.deepEqual(pool.counts('lab'), { target: 5, ready: 2, starting: 0 });
    await pool.dispose();
  });

  test('starts at most `concurrency` at once', async () => {
    let running = 0;
    let most = 0;
    const { deps } = fakeDeps({
      start: async (_labId, id) => {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running -= 1;
        return { sessionId: id, networkId: 'net', containers: {} };
      },
    });
    const pool = new SandboxPool(deps);

    pool.setTarget('lab', 5);
    for (let wait = 0; wait < 40 && pool.counts('lab').ready < 5; wait += 1)
      await new Promise((resolve) => setTimeout(resolve, 5));

    assert.equal(pool.counts('lab').ready, 5);
    assert.equal(most, 2);
    await pool.dispose();
  });

  test('lower target removes the extra', async () => {
    const { deps, removed } = fakeDeps();
    const pool = new SandboxPool(deps);
    pool.setTarget('lab', 3);
    await settle();

    pool.setTarget('lab', 1);
    await settle();

    assert.equal(removed.length, 2);
    assert.deepEqual(pool.counts('lab'), { target: 1, ready: 1, starting: 0 });
    await pool.dispose();
  });

  test('rejects a size that is not a whole number', () => {
    const pool = new SandboxPool(fakeDeps().deps);

    assert.throws(() => pool.setTarget('lab', -1), InvalidRequestError);
    assert.throws(() => pool.setTarget('lab', 1.5), InvalidRequestError);
    void pool.dispose();
  });

  test('unused sandboxes expire and are replaced', async (context) => {
    context.mock.timers.enable({ apis: ['setInterval', 'Date'] });
    const { deps, started, removed } = fakeDeps({ maxIdleMs: 20_000 });
    const pool = new SandboxPool(deps);
    pool.setTarget('lab', 1);
    await settle();
    const first = started[0];

    context.mock.timers.tick(30_000);
    await settle();

    assert.deepEqual(removed, [first]);
    assert.equal(started.length, 2);
    assert.equal(pool.counts('lab').ready, 1);
    await pool.dispose();
  });

  test('a failed start waits before the next try', async () => {
    let attempts = 0;
    const { deps } = fakeDeps({
      start: async () => {
        attempts += 1;
        throw new Error('engine said no');
      },
    });
    const pool = new SandboxPool(deps);

    pool.setTarget('lab', 2);
    await settle();

    assert.ok(attempts <= 2, `tried ${attempts} times`);
    assert.equal(pool.size, 0);
    await pool.dispose();
  });

  test('unhealthy sandboxes leave the pool', async () => {
    const { deps, removed } = fakeDeps({
      warm: async () => Promise.reject(new Error('never healthy')),
    });
    const pool = new SandboxPool(deps);

    pool.setTarget('lab', 1);
    await settle();

    assert.equal(removed.length, 1);
    assert.equal(pool.counts('lab').ready, 0);
    await pool.dispose();
  });

  test('evict frees room from the fullest lab', async () => {
    const { deps, removed } = fakeDeps();
    const pool = new SandboxPool(deps);
    pool.setTarget('small', 1);
    pool.setTarget('big', 3);
    await settle();

    const evicted = pool.evictOne();

    assert.equal(evicted, true);
    assert.equal(removed.length, 1);
    assert.equal(pool.counts('big').ready, 2);
    assert.equal(pool.counts('small').ready, 1);
    await pool.dispose();
  });

  test('dispose removes every unused sandbox', async () => {
    const { deps, started, removed } = fakeDeps();
    const pool = new SandboxPool(deps);
    pool.setTarget('lab', 2);
    await settle();

    await pool.dispose();

    assert.deepEqual([...removed].sort(), [...started].sort());
    assert.equal(pool.size, 0);
  });
});
