import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, mock, test } from 'node:test';
import { pino } from 'pino';

import { loadConfig } from '../../lab-server/src/config.ts';
import { CapacityError, ImageMissingError, SessionNotFoundError, UnauthorizedError } from '../../lab-server/src/errors.ts';
import { parseLab } from '../../lab-server/src/labs/schema.ts';
import type { SandboxRuntime, SandboxSpec } from '../../lab-server/src/sandbox/runtime.ts';
import { SessionManager } from '../../lab-server/src/sessions/manager.ts';

/** A runtime that records calls instead of starting containers. */
class FakeRuntime implements SandboxRuntime {
  created: SandboxSpec[] = [];
  removed: string[] = [];
  missingImages = new Set<string>();

  async ping() {}
  async imageExists(tag: string) {
    return !this.missingImages.has(tag);
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
  async runCommand() {
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
  }
}

const lab = parseLab('sample.yaml', {
  id: 'sample',
  title: 'Sample',
  summary: 'A lab for tests.',
  minutes: 5,
  services: { web: { image: 'webserver' } },
  terminals: [{ id: 'web', title: 'web', service: 'web' }],
  steps: [
    { id: 'one', title: 'One', body: 'Do it.', check: { service: 'web', run: 'true' }, hints: ['Hint.'], solution: 'true' },
  ],
});

function setup(env: Record<string, string> = {}) {
  const runtime = new FakeRuntime();
  const config = loadConfig([], { LAB_INSTANCE: 'unit', LAB_DATABASE: ':memory:', ...env });
  const manager = new SessionManager({ config, labs: new Map([[lab.id, lab]]), runtime, log: pino({ level: 'silent' }) });
  return { runtime, config, manager };
}

describe('session manager', () => {
  test('create passes limits and labels', async () => {
    const { runtime, manager } = setup({ LAB_CONTAINER_MEMORY_MB: '256', LAB_CONTAINER_CPUS: '0.5', LAB_CONTAINER_PIDS: '100' });

    const session = await manager.create('sample');

    const spec = runtime.created[0]!;
    assert.equal(spec.instance, 'unit');
    assert.equal(spec.sessionId, session.id);
    assert.equal(spec.labId, 'sample');
    assert.deepEqual(spec.limits, { memoryBytes: 256 * 1024 * 1024, nanoCpus: 5e8, pids: 100 });
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
});
