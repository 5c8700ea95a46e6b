import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';

import { loadConfig } from '../../lab-server/src/config.ts';
import { LabNotFoundError } from '../../lab-server/src/errors.ts';
import { parseLab } from '../../lab-server/src/labs/schema.ts';
import type { SandboxRuntime, SandboxSpec } from '../../lab-server/src/sandbox/runtime.ts';
import { checkStep } from '../../lab-server/src/sessions/checks.ts';
import { SessionManager } from '../../lab-server/src/sessions/manager.ts';

/** A runtime that records calls; health checks wait until the test lets them pass. */
class FakeRuntime implements SandboxRuntime {
  created: SandboxSpec[] = [];
  removed: string[] = [];
  imageChecks = 0;
  commands: string[] = [];
  private healthy = false;
  private readonly healthWaiters: (() => void)[] = [];

  async ping() {}
  async imageExists() {
    this.imageChecks += 1;
    return true;
  }
  async createSandbox(spec: SandboxSpec) {
    this.created.push(spec);
    return { sessionId: spec.sessionId, networkId: 'net', containers: { web: `container-${spec.sessionId}` } };
  }
  async removeSandbox(_instance: string, sessionId: string) {
    this.removed.push(sessionId);
    return { containers: 1, networks: 1 };
  }
  async sweep() {
    return { containers: 0, networks: 0 };
  }
  async openTerminal() {
    return { stream: new PassThrough(), resize: async () => {}, dispose: async () => {} };
  }
  async containerAddress() {
    return '10.213.0.2';
  }
  async runCommand(_containerId: string, options: { command: string }) {
    this.commands.push(options.command);
    if (options.command === 'health' && !this.healthy) await new Promise<void>((resolve) => this.healthWaiters.push(resolve));
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
  }
  becomeHealthy(): void {
    this.healthy = true;
    for (const resolve of this.healthWaiters.splice(0)) resolve();
  }
}

/** Builds a lab whose service has a health check and whose first step has no setup. */
function labNamed(id: string) {
  return parseLab(`${id}.yaml`, {
    id,
    title: id,
    summary: 'A lab for tests.',
    minutes: 5,
    services: { web: { image: 'webserver', healthcheck: { test: 'health', intervalSeconds: 0.01 } } },
    terminals: [{ id: 'web', title: 'web', service: 'web' }],
    steps: [{ id: 'one', title: 'One', body: 'Do it.', check: { service: 'web', run: 'check-one' }, hints: ['Hint.'], solution: 'solve-one' }],
  });
}

function setup(env: Record<string, string> = {}) {
  const runtime = new FakeRuntime();
  const config = loadConfig([], { LAB_INSTANCE: 'unit', LAB_DATABASE: ':memory:', ...env });
  const labs = new Map([['pooled', labNamed('pooled')], ['other', labNamed('other')]]);
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
    runtime.becomeHealthy();
    await check;
    assert.deepEqual(runtime.commands.filter((command) => command !== 'health'), ['check-one']);
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

    assert.deepEqual([...runtime.removed].sort(), runtime.created.map((spec) => spec.sessionId).sort());
  });
});
