// The labs' self-test on real Docker: for every lab in content/labs, every check fails on fresh
// containers, and, step by step, each check fails before its step's solution runs and passes
// after it. Checks go through the API, so setups, polling and stored progress run as for a
// learner. A lab whose image is not built fails here with the image's name.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { loadLabs } from '../../lab-server/src/labs/load.ts';
import type { Lab, LabStep } from '../../lab-server/src/labs/schema.ts';
import { docker, listManaged, removeInstance } from '../helpers/docker.ts';
import { ROOT, startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';

const labs = await loadLabs(path.join(ROOT, 'content/labs'));

interface Started {
  sessionId: string;
  token: string;
}

/** A learner of its own: the learner cookie the server sets is sent back on every call. */
class Learner {
  private cookie = '';
  private readonly server: RunningServer;

  constructor(server: RunningServer) {
    this.server = server;
  }

  async call(method: string, url: string, body?: unknown, token?: string): Promise<any> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.cookie) headers.cookie = this.cookie;
    if (token) headers.authorization = `Bearer ${token}`;

    const response = await fetch(`${this.server.url}${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const learner = response.headers.getSetCookie().find((cookie) => cookie.startsWith('ddevlab_learner='));
    if (learner) this.cookie = learner.split(';')[0]!;

    const text = await response.text();
    assert.ok(response.ok, `${method} ${url} returned ${response.status}: ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  check(session: Started, step: LabStep) {
    return this.call('POST', `/api/sessions/${session.sessionId}/steps/${step.id}/check`, { wait: true }, session.token);
  }
}

/** Runs a step's solution in its container, as the learner would in a terminal. */
async function runSolution(server: RunningServer, session: Started, lab: Lab, step: LabStep): Promise<void> {
  const service = step.solution.service ?? step.check.service;
  const user = step.solution.user ?? (step.solution.service ? undefined : step.check.user);
  const { containers } = await listManaged(server.instance, session.sessionId);
  const info = containers.find((candidate) => candidate.Labels['dev.ddevlab.service'] === service);
  assert.ok(info, `lab ${lab.id}: no container for service "${service}"`);

  const exec = await docker.getContainer(info.Id).exec({ Cmd: ['sh', '-c', step.solution.run], User: user, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  let output = '';
  stream.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  await new Promise((resolve) => stream.on('end', resolve));

  const { ExitCode } = await exec.inspect();
  assert.equal(ExitCode, 0, `lab ${lab.id}, step ${step.id}: the solution failed:\n${output}`);
}

describe('lab solutions on Docker', () => {
  const instance = uniqueInstance('it-labs');
  let server: RunningServer;

  before(async () => {
    server = await startLabServer({ instance, env: { LAB_DATABASE: ':memory:' } });
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  for (const lab of labs.values()) {
    test(`${lab.id}: checks fail on fresh containers`, async () => {
      const learner = new Learner(server);
      const session: Started = await learner.call('POST', '/api/sessions', { labId: lab.id });

      try {
        for (const step of lab.steps) {
          const result = await learner.call('POST', `/api/sessions/${session.sessionId}/steps/${step.id}/check`, { wait: false }, session.token);
          assert.equal(result.passed, false, `lab ${lab.id}: step ${step.id} passes before anything was done`);
          assert.notEqual(result.message, 'Not yet: the check did not pass.', `lab ${lab.id}: step ${step.id} prints no FAIL: line`);
        }
      } finally {
        await learner.call('DELETE', `/api/sessions/${session.sessionId}`, undefined, session.token);
      }
    });

    test(`${lab.id}: each solution passes its check`, async () => {
      const learner = new Learner(server);
      const session: Started = await learner.call('POST', '/api/sessions', { labId: lab.id });

      try {
        for (const step of lab.steps) {
          const before = await learner.call('POST', `/api/sessions/${session.sessionId}/steps/${step.id}/check`, { wait: false }, session.token);
          assert.equal(before.passed, false, `lab ${lab.id}: step ${step.id} passes before its solution ran`);

          await runSolution(server, session, lab, step);
          const afterSolution = await learner.check(session, step);
          assert.equal(afterSolution.passed, true, `lab ${lab.id}: step ${step.id} still fails after its solution: ${afterSolution.message}`);
          assert.ok(afterSolution.passedSteps.includes(step.id));
        }
      } finally {
        await learner.call('DELETE', `/api/sessions/${session.sessionId}`, undefined, session.token);
      }
    });
  }
});
