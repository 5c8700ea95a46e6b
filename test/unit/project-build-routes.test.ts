// The Restart routes against a fake engine: authorization as in the REST API, progress as
// newline-delimited JSON, one Restart per session at a time, and cleanup when a session ends.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import express, { type NextFunction, type Request, type Response } from 'express';
import { pino } from 'pino';
import { pack } from 'tar-stream';

import { loadConfig } from '../../lab-server/src/config.ts';
import { LabError } from '../../lab-server/src/errors.ts';
import { createProjectBuildRouter } from '../../lab-server/src/http/project-build-routes.ts';
import { parseLab } from '../../lab-server/src/labs/schema.ts';
import { LABELS } from '../../lab-server/src/sandbox/labels.ts';
import type {
  ProjectBuildEngine,
  ProjectImageBuild,
  RecreateRequest,
} from '../../lab-server/src/sandbox/project-build-engine.ts';
import type { SandboxRuntime, SandboxSpec } from '../../lab-server/src/sandbox/runtime.ts';
import { SessionManager } from '../../lab-server/src/sessions/manager.ts';

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
      check: { service: 'web', run: 'true' },
      hints: ['Hint.'],
      solution: 'true',
    },
  ],
});

const runtime: SandboxRuntime = {
  ping: async () => {},
  imageExists: async () => true,
  createSandbox: async (spec: SandboxSpec) => ({
    sessionId: spec.sessionId,
    networkId: 'net',
    containers: { web: 'old-container' },
  }),
  removeSandbox: async () => ({ containers: 1, networks: 1 }),
  sweep: async () => ({ containers: 0, networks: 0 }),
  openTerminal: async () => ({
    stream: new PassThrough(),
    resize: async () => {},
    dispose: async () => {},
  }),
  runCommand: async () => ({ exitCode: 0, stdout: '', stderr: '', timedOut: false }),
  containerAddress: async () => undefined,
};

/** An engine whose container has the given files under /var/www/html/.ddev, and which records calls. */
class FakeEngine implements ProjectBuildEngine {
  files: Record<string, string> = {
    'config.yaml': 'name: demo\nwebimage_extra_packages: [figlet]\n',
  };
  builds: ProjectImageBuild[] = [];
  recreated: RecreateRequest[] = [];
  removed: Array<Record<string, string>> = [];
  buildFails = false;
  release: () => void = () => {};

  async platform() {
    return { os: 'linux', architecture: 'x86_64' };
  }
  async copyFromContainer(_id: string, path: string) {
    const name = path.split('/').at(-1)!;
    if (name === 'config.yaml')
      return this.files['config.yaml'] === undefined
        ? undefined
        : tar([['config.yaml', this.files['config.yaml']]]);
    const entries = Object.entries(this.files).filter(([file]) => file.startsWith('web-build/'));
    return tar([['web-build/', ''], ...entries]);
  }
  async buildImage(request: ProjectImageBuild) {
    this.builds.push(request);
    request.context.resume();
    await new Promise<void>((resolve) => {
      this.release = resolve;
      if (!this.waitForRelease) resolve();
    });
    request.onLine('Step 1/16 : ARG BASE_IMAGE="scratch"');
    if (this.buildFails) {
      request.onLine('Step 15/16 : RUN no-such-tool');
      return {
        ok: false as const,
        timedOut: false,
        detail: "The command '/bin/bash -c no-such-tool' returned a non-zero code: 127",
        step: { number: 15, text: 'RUN no-such-tool' },
      };
    }
    return { ok: true as const, imageId: 'sha256:built' };
  }
  waitForRelease = false;
  async recreateContainer(request: RecreateRequest) {
    this.recreated.push(request);
    return 'new-container';
  }
  async layers() {
    return [{ createdBy: 'RUN figlet', sizeBytes: 10 }];
  }
  async imageUser() {
    return 'ddev';
  }
  async removeImages(labels: Record<string, string>) {
    this.removed.push(labels);
    return 0;
  }
}

function tar(entries: Array<[string, string]>): Readable {
  const packer = pack();
  for (const [name, content] of entries) {
    packer.entry({ name, type: name.endsWith('/') ? 'directory' : 'file', mode: 0o644 }, content);
  }
  packer.finalize();
  return packer as unknown as Readable;
}

describe('restart routes', () => {
  const config = loadConfig([], { LAB_INSTANCE: 'unit', LAB_DATABASE: ':memory:' });
  const sessions = new SessionManager({
    config,
    labs: new Map([[lab.id, lab]]),
    runtime,
    log: pino({ level: 'silent' }),
  });
  const engine = new FakeEngine();
  let url: string;
  let close: () => void;

  before(async () => {
    const app = express();
    app.use(
      '/api',
      createProjectBuildRouter(
        {
          config,
          labs: new Map([[lab.id, lab]]),
          sessions,
          runtime,
          log: pino({ level: 'silent' }),
        },
        engine,
      ),
    );
    app.use((error: unknown, _request: Request, response: Response, _next: NextFunction) => {
      const status = error instanceof LabError ? error.status : 500;
      response
        .status(status)
        .json(error instanceof LabError ? error.toJSON() : { error: 'InternalError' });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
    close = () => server.close();
  });

  after(async () => {
    await sessions.endAll('shutdown');
    close();
  });

  async function restart(sessionId: string, token: string) {
    const response = await fetch(`${url}/sessions/${sessionId}/restart`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    const text = await response.text();
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      events: response.ok
        ? text
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line))
        : [JSON.parse(text)],
    };
  }

  test('restart needs the token', async () => {
    const session = await sessions.create(lab.id);

    const result = await restart(session.id, 'wrong');

    assert.equal(result.status, 401);
    assert.equal(result.events[0].error, 'Unauthorized');
  });

  test('restart rejects a bad id', async () => {
    const result = await restart('not-a-session', 'x');

    assert.equal(result.status, 400);
  });

  test('restart streams and swaps container', async () => {
    engine.files['web-build/Dockerfile.tool'] = 'RUN true\n';
    const session = await sessions.create(lab.id);

    const result = await restart(session.id, session.token);

    assert.equal(result.status, 200);
    assert.match(result.type ?? '', /application\/x-ndjson/);
    const types = result.events.map((event) => event.type);
    assert.deepEqual(
      types.filter((type) => type !== 'line'),
      ['phase', 'dockerfile', 'phase', 'phase', 'done'],
    );
    const done = result.events.at(-1);
    assert.equal(done.tag, 'ddev-lab/ddev-webserver:trixie-demo-built');
    assert.equal(session.sandbox.containers.web, 'new-container');

    const build = engine.builds.at(-1)!;
    assert.equal(build.buildArgs.BASE_IMAGE, 'ddev-lab/ddev-webserver:trixie');
    assert.equal(build.labels[LABELS.session], session.id);
    assert.equal(build.labels[LABELS.instance], 'unit');
    assert.equal(build.limits.memoryBytes, config.containerMemoryMb * 1024 * 1024);
    assert.equal(engine.recreated.at(-1)!.environment.DDEV_WEBSERVER_TYPE, 'nginx-fpm');
  });

  test('restart reports failing step', async () => {
    engine.buildFails = true;
    const session = await sessions.create(lab.id);

    const result = await restart(session.id, session.token);
    engine.buildFails = false;

    const last = result.events.at(-1);
    assert.equal(last.type, 'error');
    assert.equal(last.error, 'ProjectBuildFailed');
    assert.equal(last.status, 422);
    assert.equal(last.source, 'web-build/Dockerfile.tool');
    assert.match(last.message, /step 15 `RUN no-such-tool`/);
    assert.equal(session.sandbox.containers.web, 'old-container');
  });

  test('restart reports invalid config', async () => {
    engine.files['config.yaml'] = 'php_version: "7.4"\n';
    const session = await sessions.create(lab.id);

    const result = await restart(session.id, session.token);
    engine.files['config.yaml'] = 'name: demo\n';

    const last = result.events.at(-1);
    assert.equal(last.error, 'InvalidProjectConfig');
    assert.match(last.message, /php_version: "7\.4" is not available/);
  });

  test('restart runs once per session', async () => {
    const session = await sessions.create(lab.id);
    engine.waitForRelease = true;

    const first = restart(session.id, session.token);
    while (
      engine.builds.length === 0 ||
      engine.builds.at(-1)!.labels[LABELS.session] !== session.id
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const second = await restart(session.id, session.token);
    engine.waitForRelease = false;
    engine.release();

    assert.equal(second.status, 409);
    assert.equal(second.events[0].error, 'BuildBusy');
    assert.equal((await first).status, 200);
  });

  test('dockerfile preview needs no build', async () => {
    const session = await sessions.create(lab.id);
    const builds = engine.builds.length;

    const response = await fetch(`${url}/sessions/${session.id}/restart/dockerfile`, {
      headers: { authorization: `Bearer ${session.token}` },
    });
    const preview = (await response.json()) as { dockerfile: string; tag: string };

    assert.equal(response.status, 200);
    assert.match(preview.dockerfile, /^#ddev-generated/);
    assert.equal(engine.builds.length, builds);
  });

  test('ended session removes images', async () => {
    const session = await sessions.create(lab.id);

    await sessions.end(session.id, 'stopped');

    assert.ok(
      engine.removed.some(
        (labels) => labels[LABELS.session] === session.id && labels[LABELS.instance] === 'unit',
      ),
    );
  });
});
