import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { pino } from 'pino';

import { loadConfig } from '../../lab-server/src/config.ts';
import {
  CapacityError,
  ImageMissingError,
  SessionNotFoundError,
  UnauthorizedError,
} from '../../lab-server/src/errors.ts';
import { parseLab } from '../../lab-server/src/labs/schema.ts';
import { checkStep, restartStep } from '../../lab-server/src/sessions/checks.ts';
import { SessionManager } from '../../lab-server/src/sessions/manager.ts';
import { FakeRuntime } from '../helpers/fake-runtime.ts';

const lab = parseLab('sample.yaml', {
  id: 'sample',
  title: 'Sample',
  summary: 'A lab for tests.',
  minutes: 5,
  services: { web: { image: 'webserver' } },
  terminals: [{ id: 'web', title: 'web', service: 'web' }],
  steps: [
    {
      id: 'one',
      title: 'One',
      body: 'Do it.',
      check: { service: 'web', run: 'check-one' },
      hints: ['Hint.'],
      solution: 'solve-one',
      setup: { run: 'setup-one' },
    },
    {
      id: 'two',
      title: 'Two',
      body: 'Do it.',
      check: { service: 'web', run: 'check-two' },
      hints: ['Hint.'],
      solution: 'solve-two',
      setup: { run: 'setup-two' },
    },
  ],
});

function setup(env: Record<string, string> = {}) {
  const runtime = new FakeRuntime();
  const config = loadConfig([], { LAB_INSTANCE: 'unit', LAB_DATABASE: ':memory:', ...env });
  const manager = new SessionManager({
    config,
    labs: new Map([[lab.id, lab]]),
    runtime,
    log: pino({ level: 'silent' }),
  });
  return { runtime, config, manager };
}

describe('session manager', () => {
  test('create passes limits and labels', async () => {
    const { runtime, manager } = setup({
      LAB_CONTAINER_MEMORY_MB: '256',
      LAB_CONTAINER_CPUS: '0.5',
      LAB_CONTAINER_PIDS: '100',
    });

    const session = await manager.create('sample');

    const spec = runtime.created[0]!;
    assert.equal(spec.instance, 'unit');
    assert.equal(spec.sessionId, session.id);
    assert.equal(spec.labId, 'sample');
    assert.equal(spec.limits.memoryBytes, 256 * 1024 * 1024);
    assert.equal(spec.limits.nanoCpus, 5e8);
    assert.equal(spec.limits.pids, 100);
    assert.match(spec.services[0]!.imageTag, /^ddev-lab\/.*webserver/);
    assert.match(session.id, /^[0-9a-f]{16}$/);
    assert.ok(session.token.length >= 40);
  });

  test('authorize checks the token', async () => {
    const { manager } = setup();
    const session = await manager.create('sample');

    assert.equal(manager.authorize(session.id, session.token), session);
    assert.throws(() => manager.authorize(session.id, 'wrong'), UnauthorizedError);
    assert.throws(() => manager.authorize(session.id, undefined), UnauthorizedError);
    assert.throws(() => manager.authorize('0000000000000000', session.token), SessionNotFoundError);
  });

  test('rejects past the session limit', async () => {
    const { manager } = setup({ LAB_MAX_SESSIONS: '2' });
    await manager.create('sample');
    await manager.create('sample');

    await assert.rejects(manager.create('sample'), CapacityError);
  });

  test('rejects a missing image', async () => {
    const { runtime, manager } = setup();
    runtime.missingImages.add('ddev-lab/ddev-webserver:trixie');

    await assert.rejects(manager.create('sample'), ImageMissingError);
    assert.equal(runtime.created.length, 0);
  });

  test('expiry removes the sandbox', async (context) => {
    context.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { runtime, manager } = setup({ LAB_SESSION_MINUTES: '1' });
    const session = await manager.create('sample');
    const ended = mock.fn();
    manager.onEnd(ended);

    context.mock.timers.tick(60_000);
    await new Promise((resolve) => setImmediate(resolve));

    assert.deepEqual(runtime.removed, [session.id]);
    assert.deepEqual(ended.mock.calls[0]!.arguments, [session.id, 'expired']);
    assert.throws(() => manager.authorize(session.id, session.token), SessionNotFoundError);
  });

  test('end twice removes once', async () => {
    const { runtime, manager } = setup();
    const session = await manager.create('sample');

    await manager.end(session.id, 'stopped');
    await manager.end(session.id, 'stopped');

    assert.deepEqual(runtime.removed, [session.id]);
  });

  test('same learner gets same session', async () => {
    const { runtime, manager } = setup();

    const first = await manager.create('sample', 'learner-a');
    const again = await manager.create('sample', 'learner-a');
    const other = await manager.create('sample', 'learner-b');

    assert.equal(again, first);
    assert.notEqual(other.id, first.id);
    assert.equal(runtime.created.length, 2);
  });

  test('new session replays passed steps', async () => {
    const { runtime, manager } = setup();
    manager.store.markPassed('learner', 'sample', 'one');

    await manager.create('sample', 'learner');

    assert.deepEqual(runtime.commands, ['setup-one', 'solve-one', 'setup-two']);
  });

  test('pass runs next setup once', async () => {
    const { runtime, manager } = setup();
    const session = await manager.create('sample', 'learner');
    runtime.commands = [];

    const result = await checkStep(manager, session, 'one', { wait: false });
    await checkStep(manager, session, 'one', { wait: false });

    assert.equal(result.passed, true);
    assert.deepEqual(result.passedSteps, ['one']);
    assert.deepEqual(runtime.commands, ['check-one', 'setup-two', 'check-one']);
  });

  test('failed checks reveal hints', async () => {
    const { runtime, manager } = setup();
    const session = await manager.create('sample', 'learner');
    runtime.failing.add('check-one');

    const first = await checkStep(manager, session, 'one', { wait: false });

    assert.equal(first.passed, false);
    assert.equal(first.message, 'not yet');
    assert.deepEqual(first.hints, ['Hint.']);
  });

  test('restart step reruns its setup', async () => {
    const { runtime, manager } = setup();
    const session = await manager.create('sample', 'learner');
    await checkStep(manager, session, 'one', { wait: false });
    await checkStep(manager, session, 'two', { wait: false });
    runtime.commands = [];

    const passed = await restartStep(manager, session, 'two');

    assert.deepEqual(passed, ['one']);
    assert.deepEqual(runtime.commands, ['setup-two']);
  });

  test('extend stops at the maximum', async () => {
    const { manager } = setup({
      LAB_SESSION_MINUTES: '10',
      LAB_SESSION_MAX_MINUTES: '20',
      LAB_EXTEND_MINUTES: '15',
    });
    const session = await manager.create('sample', 'learner');
    const first = session.expiresAt;

    manager.extend(session);
    manager.extend(session);

    assert.ok(session.expiresAt > first);
    assert.equal(session.expiresAt, session.maxExpiresAt);
    assert.equal(session.maxExpiresAt - session.createdAt, 20 * 60_000);
  });

  test('reset clears progress', async () => {
    const { runtime, manager } = setup();
    const session = await manager.create('sample', 'learner');
    await checkStep(manager, session, 'one', { wait: false });

    const fresh = await manager.reset(session);

    assert.notEqual(fresh.id, session.id);
    assert.deepEqual(runtime.removed, [session.id]);
    assert.deepEqual(manager.store.passedSteps('learner', 'sample'), []);
  });

  test('closed tab ends after grace', async (context) => {
    context.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'] });
    const { runtime, manager } = setup({ LAB_CLOSED_GRACE_SECONDS: '30', LAB_IDLE_MINUTES: '60' });
    const kept = await manager.create('sample', 'kept');
    const closed = await manager.create('sample', 'closed');

    for (let second = 0; second < 60; second += 10) {
      context.mock.timers.tick(10_000);
      manager.heartbeat(kept, false);
    }
    await new Promise((resolve) => setImmediate(resolve));

    assert.deepEqual(runtime.removed, [closed.id]);
  });

  test('idle learner ends after idle minutes', async (context) => {
    context.mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'] });
    const { runtime, manager } = setup({
      LAB_CLOSED_GRACE_SECONDS: '60',
      LAB_IDLE_MINUTES: '2',
      LAB_SESSION_MINUTES: '30',
    });
    const active = await manager.create('sample', 'active');
    const idle = await manager.create('sample', 'idle');

    for (let second = 0; second < 180; second += 10) {
      context.mock.timers.tick(10_000);
      manager.heartbeat(active, true);
      manager.heartbeat(idle, false);
    }
    await new Promise((resolve) => setImmediate(resolve));

    assert.deepEqual(runtime.removed, [idle.id]);
  });
});

describe('router routes', () => {
  const routed = {
    id: 'routed',
    title: 'Routed',
    summary: 'Two projects behind a router.',
    minutes: 5,
    services: {
      router: { image: 'router', healthcheck: { test: 'router-health', intervalSeconds: 0.01 } },
      'web-one': { image: 'webserver', environment: { VIRTUAL_HOST: 'one.ddev.site' } },
      'web-two': {
        image: 'webserver',
        project: 'two',
        environment: { VIRTUAL_HOST: 'two.ddev.site', HTTP_EXPOSE: '80:80,8025:8025' },
      },
      db: { image: 'dbserver-mariadb' },
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
  };

  function routedSetup(store?: SessionManager['store']) {
    const runtime = new FakeRuntime();
    const config = loadConfig([], { LAB_INSTANCE: 'unit', LAB_DATABASE: ':memory:' });
    const routedLab = parseLab('routed.yaml', routed);
    const manager = new SessionManager({
      config,
      labs: new Map([[routedLab.id, routedLab]]),
      runtime,
      log: pino({ level: 'silent' }),
      store,
    });
    return { runtime, manager };
  }

  test('start writes one route per routed service', async () => {
    const { runtime, manager } = routedSetup();

    const session = await manager.create('routed');
    await manager.whenReady(session);

    const puts = runtime.calls.filter((call) => call.command.startsWith('router-route'));
    assert.deepEqual(
      puts.map((call) => call.command),
      ['router-route put web-one', 'router-route put two'],
    );
    assert.ok(
      runtime.commands.indexOf('router-health') <
        runtime.commands.indexOf('router-route put web-one'),
      'a route was written before the router was healthy',
    );
    assert.equal(puts[0]!.containerId, session.sandbox.containers.router);
    assert.equal(puts[0]!.user, 'ddev');
    assert.match(puts[0]!.input!, /server_name one\.ddev\.site;[\s\S]*http:\/\/web-one:80;/);
    assert.match(puts[1]!.input!, /listen 8025;\n {4}server_name two\.ddev\.site;/);
  });

  test('rejected route ends the session', async () => {
    const { runtime, manager } = routedSetup();
    runtime.failing.add('router-route put two');

    const session = await manager.create('routed');

    await assert.rejects(
      manager.whenReady(session),
      /service "web-two" in lab "routed" \(project two, VIRTUAL_HOST=two\.ddev\.site, HTTP_EXPOSE=80:80,8025:8025\)/,
    );
    assert.deepEqual(runtime.removed, [session.id]);
    assert.equal(manager.isRunning(session.id), false);
  });

  test('adoption writes only missing routes', async () => {
    const first = routedSetup();
    const session = await first.manager.create('routed');
    await first.manager.whenReady(session);
    const { runtime, manager } = routedSetup(first.manager.store);
    runtime.stored.set(session.id, session.sandbox);
    runtime.outputs.set('router-route list', 'web-one\n');

    const { adopted } = await manager.adopt();

    assert.equal(adopted, 1);
    assert.deepEqual(runtime.commands, ['router-route list', 'router-route put two']);
    await manager.endAll('shutdown');
  });

  test('lab without a router writes no route', async () => {
    const { runtime, manager } = routedSetup();
    const withoutRouter = parseLab('routed.yaml', {
      ...routed,
      services: { ...routed.services, router: { image: 'webserver' } },
    });
    const other = new SessionManager({
      config: manager.config,
      labs: new Map([['routed', withoutRouter]]),
      runtime,
      log: pino({ level: 'silent' }),
    });

    const session = await other.create('routed');
    await other.whenReady(session);

    assert.deepEqual(
      runtime.commands.filter((command) => command.startsWith('router-route')),
      [],
    );
  });

  test('schema rejects a bad route', () => {
    const withWeb = (web: object) => ({
      ...routed,
      services: { ...routed.services, 'web-one': { image: 'webserver', ...web } },
    });

    assert.throws(
      () =>
        parseLab(
          'routed.yaml',
          withWeb({ environment: { VIRTUAL_HOST: 'one.ddev.site;return 200' } }),
        ),
      /services\.web-one\.environment\.VIRTUAL_HOST: Invalid host name/,
    );
    assert.throws(
      () =>
        parseLab(
          'routed.yaml',
          withWeb({ environment: { VIRTUAL_HOST: 'one.ddev.site', HTTP_EXPOSE: '8080:80' } }),
        ),
      /services\.web-one\.environment\.HTTP_EXPOSE: .*router port 8080/,
    );
    assert.throws(
      () =>
        parseLab(
          'routed.yaml',
          withWeb({ project: 'two', environment: { VIRTUAL_HOST: 'one.ddev.site' } }),
        ),
      /services\.web-two\.project: project "two" is routed by service "web-one"/,
    );
    assert.throws(
      () =>
        parseLab('routed.yaml', {
          ...routed,
          services: { ...routed.services, router: { image: 'router' } },
        }),
      /services\.router\.healthcheck: a router that gets routes needs a health check/,
    );
  });
});
