// The labs' self-test on real Docker: for every lab in content/labs, every check fails on fresh
// containers, and, step by step, each check fails before its step's solution runs and passes
// after it. Checks go through the API, so setups, polling and stored progress run as for a
// learner. A step that needs Restart gets one between its solution and its check, which rebuilds
// the project's web image. A lab whose image is not built fails here with the image's name.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { loadLabs } from '../../lab-server/src/labs/load.ts';
import type { Lab, LabStep } from '../../lab-server/src/labs/schema.ts';
import { LABELS } from '../../lab-server/src/sandbox/labels.ts';
import { docker, listManaged, removeInstance } from '../helpers/docker.ts';
import { ROOT, startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';

const labs = await loadLabs(path.join(ROOT, 'content/labs'));

// A Restart installs Debian packages from the archive; allow each a few minutes on a busy host.
const RESTART_TEST_TIMEOUT_MS = 20 * 60_000;

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

    const response = await fetch(`${this.server.url}${url}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const learner = response.headers
      .getSetCookie()
      .find((cookie) => cookie.startsWith('ddevlab_learner='));
    if (learner) this.cookie = learner.split(';')[0]!;

    const text = await response.text();
    assert.ok(response.ok, `${method} ${url} returned ${response.status}: ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  check(session: Started, step: LabStep) {
    return this.call(
      'POST',
      `/api/sessions/${session.sessionId}/steps/${step.id}/check`,
      { wait: true },
      session.token,
    );
  }

  /** Presses Restart and returns the last event of its stream, `done` or `error`. */
  async restart(session: Started): Promise<any> {
    const response = await fetch(`${this.server.url}/api/sessions/${session.sessionId}/restart`, {
      method: 'POST',
      headers: { cookie: this.cookie, authorization: `Bearer ${session.token}` },
    });
    const text = await response.text();
    assert.equal(response.status, 200, `Restart returned ${response.status}: ${text}`);

    const events = text
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line));
    return events.at(-1);
  }
}

/** Runs a step's solution in its container, as the learner would in a terminal. */
async function runSolution(
  server: RunningServer,
  session: Started,
  lab: Lab,
  step: LabStep,
): Promise<void> {
  const service = step.solution.service ?? step.check.service;
  const user = step.solution.user ?? (step.solution.service ? undefined : step.check.user);
  const { containers } = await listManaged(server.instance, session.sessionId);
  const info = containers.find((candidate) => candidate.Labels['dev.ddevlab.service'] === service);
  assert.ok(info, `lab ${lab.id}: no container for service "${service}"`);

  const exec = await docker.getContainer(info.Id).exec({
    Cmd: ['sh', '-c', step.solution.run],
    User: user,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({});
  let output = '';
  stream.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  await new Promise((resolve) => stream.on('end', resolve));

  const { ExitCode } = await exec.inspect();
  assert.equal(ExitCode, 0, `lab ${lab.id}, step ${step.id}: the solution failed:\n${output}`);
}

/** Removes the `-built` images a Restart made, found by the instance's labels, once their containers are gone. */
async function removeBuiltImages(instance: string): Promise<void> {
  const filters = JSON.stringify({
    label: [`${LABELS.managed}=true`, `${LABELS.instance}=${instance}`],
  });
  const images = await docker.listImages({ filters });
  await Promise.all(
    images.map((image) =>
      docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
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
    await removeBuiltImages(instance);
  });

  for (const lab of labs.values()) {
    test(`${lab.id}: checks fail on fresh containers`, async () => {
      const learner = new Learner(server);
      const session: Started = await learner.call('POST', '/api/sessions', { labId: lab.id });

      try {
        for (const step of lab.steps) {
          const result = await learner.call(
            'POST',
            `/api/sessions/${session.sessionId}/steps/${step.id}/check`,
            { wait: false },
            session.token,
          );
          assert.equal(
            result.passed,
            false,
            `lab ${lab.id}: step ${step.id} passes before anything was done`,
          );
          assert.notEqual(
            result.message,
            'Not yet: the check did not pass.',
            `lab ${lab.id}: step ${step.id} prints no FAIL: line`,
          );
        }
      } finally {
        await learner.call(
          'DELETE',
          `/api/sessions/${session.sessionId}`,
          undefined,
          session.token,
        );
      }
    });

    const rebuilds = lab.steps.some((step) => step.needsRestart);
    test(
      `${lab.id}: each solution passes its check`,
      { timeout: rebuilds ? RESTART_TEST_TIMEOUT_MS : undefined },
      async () => {
        const learner = new Learner(server);
        const session: Started = await learner.call('POST', '/api/sessions', { labId: lab.id });

        try {
          for (const step of lab.steps) {
            const before = await learner.call(
              'POST',
              `/api/sessions/${session.sessionId}/steps/${step.id}/check`,
              { wait: false },
              session.token,
            );
            assert.equal(
              before.passed,
              false,
              `lab ${lab.id}: step ${step.id} passes before its solution ran`,
            );

            await runSolution(server, session, lab, step);
            if (step.needsRestart) {
              const last = await learner.restart(session);
              assert.equal(
                last?.type,
                'done',
                `lab ${lab.id}, step ${step.id}: Restart did not finish: ${JSON.stringify(last)}`,
              );
            }
            const afterSolution = await learner.check(session, step);
            assert.equal(
              afterSolution.passed,
              true,
              `lab ${lab.id}: step ${step.id} still fails after its solution: ${afterSolution.message}`,
            );
            assert.ok(afterSolution.passedSteps.includes(step.id));
          }
        } finally {
          await learner.call(
            'DELETE',
            `/api/sessions/${session.sessionId}`,
            undefined,
            session.token,
          );
        }
      },
    );
  }
});
