import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';

import { loadConfig } from '../../lab-server/src/config.ts';
import { LabNotFoundError } from '../../lab-server/src/errors.ts';
import { parseLab } from '../../lab-server/src/labs/schema.ts';
import { checkStep } from '../../lab-server/src/sessions/checks.ts';
import { SessionManager } from '../../lab-server/src/sessions/manager.ts';
import { FakeRuntime } from '../helpers/fake-runtime.ts';

/** Builds a lab whose service has a health check and whose first step has no setup. */
function labNamed(id: string) {
  return parseLab(`${id}.yaml`, {
    id,
    title: id,
    summary: 'A lab for tests.',
    minutes: 5,
    services: {
      web: { image: 'webserver', healthcheck: { test: 'health', intervalSeconds: 0.01 } },
    },
    terminals: [{ id: 'web', title: 'web', service: 'web' }],
    steps: [
      {
        id: 'one',
        title: 'One',
        body: 'Do it.',
        check: { service: 'web', run: 'check-one' },
        hints: ['Hint.'],
        solution: 'solve-one',
      },
    ],
  });
}

/** Builds a lab with a router and one web service that it routes. */
function routedLab() {
  return parseLab('routed.yaml', {
    id: 'routed',
    title: 'routed',
    summary: 'A lab for tests.',
    minutes: 5,
    services: {
      router: { image: 'router', healthcheck: { test: 'health', intervalSeconds: 0.01 } },
      web: { image: 'webserver', environment: { VIRTUAL_HOST: 'web.ddev.site' } },
    },
    terminals: [{ id: 'router', title: 'router', service: 'router' }],
    steps: [
      {
        id: 'one',
        title: 'One',
        body: 'Do it.',
        check: { service: 'router', run: 'check-one' },
        hints: ['Hint.'],
        solution: 'solve-one',
      },
    ],
  });
}

function setup(env: Record<string, string> = {}) {
  const runtime = new FakeRuntime();
  runtime.heldCommands.add('health');
  const config = loadConfig([], { LAB_INSTANCE: 'unit', LAB_DATABASE: ':memory:', ...env });
  const labs = new Map([
    ['pooled', labNamed('pooled')],
    ['other', labNamed('other')],
    ['routed', routedLab()],
  ]);
  const manager = new SessionManager({ config, labs, runtime, log: pino({ level: 'silent' }) });
  return { runtime, config, manager };
}

/** Lets the pool's deferred fills and the starts they begin run to the end. */
async function settle(): Promise<void> {
  for (let round = 0; round < 20; round += 1) await new Promise((resolve) => setImmediate(resolve));
}

describe('sessions with a pool', () => {
  test('start takes the pooled sandbox', async () => {
    const { runtime, config, manager } = setup();
    manager.setPoolTarget('pooled', 1);
    await settle();
    const pooledSpec = runtime.created[0]!;

    const before = Date.now();
    const session = await manager.create('pooled', 'learner');
    await settle();

    assert.equal(pooledSpec.pooled, true);
    assert.equal(session.id, pooledSpec.sessionId);
    assert.ok(session.expiresAt >= before + config.sessionMinutes * 60_000);
    assert.equal(runtime.created.length, 2, 'the pool did not start a replacement');
    assert.equal(manager.poolCounts('pooled').ready, 1);
    await manager.endAll('shutdown');
  });

  test('images are inspected once', async () => {
    const { runtime, manager } = setup();

    await manager.create('pooled', 'first');
    await manager.create('pooled', 'second');

    assert.equal(runtime.imageChecks, 1);
    await manager.endAll('shutdown');
  });

  test('terminal opens before health', async () => {
    const { runtime, manager } = setup();

    const session = await manager.create('other', 'learner');
    let checked = false;
    const check = checkStep(manager, session, 'one', { wait: false }).then(() => (checked = true));
    await settle();

    assert.equal(checked, false, 'the check ran before the services were healthy');
    runtime.release('health');
    await check;
    assert.deepEqual(
      runtime.commands.filter((command) => command !== 'health'),
      ['check-one'],
    );
    await manager.endAll('shutdown');
  });

  test('pool gives way to another lab', async () => {
    const { runtime, manager } = setup({ LAB_MAX_SESSIONS: '2' });
    manager.setPoolTarget('pooled', 2);
    await settle();

    const other = await manager.create('other', 'learner');

    assert.equal(runtime.created.filter((spec) => spec.pooled).length, 2);
    assert.equal(runtime.removed.length, 1, 'no pooled sandbox made room');
    assert.equal(other.labId, 'other');
    assert.equal(manager.poolCounts('pooled').ready, 1);
    await manager.endAll('shutdown');
  });

  test('pooled sandbox is routed once', async () => {
    const { runtime, manager } = setup();
    manager.setPoolTarget('routed', 1);
    await settle();
    const pooledId = runtime.created[0]!.sessionId;
    assert.deepEqual(
      runtime.commands.filter((command) => command.startsWith('router-route')),
      [],
      'a route was written before the router was healthy',
    );

    const puts = () =>
      runtime.calls.filter(
        (call) =>
          call.command === 'router-route put web' && call.containerId === `router-${pooledId}`,
      );

    runtime.release('health');
    await settle();
    assert.equal(puts().length, 1, 'the warm pooled sandbox has no route');
    const session = await manager.create('routed', 'learner');
    await manager.whenReady(session);

    assert.equal(session.id, pooledId);
    assert.equal(puts().length, 1, 'the route was written again on take');
    await manager.endAll('shutdown');
  });

  test('pool target needs a known lab', () => {
    const { manager } = setup();

    assert.throws(() => manager.setPoolTarget('no-such-lab', 1), LabNotFoundError);
    void manager.endAll('shutdown');
  });

  test('shutdown removes pooled sandboxes', async () => {
    const { runtime, manager } = setup();
    manager.setPoolTarget('pooled', 2);
    await settle();

    await manager.endAll('shutdown');

    assert.deepEqual(
      [...runtime.removed].sort(),
      runtime.created.map((spec) => spec.sessionId).sort(),
    );
  });
});
