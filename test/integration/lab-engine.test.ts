// The lab engine on real Docker: progress kept in the SQLite file across a lab server restart and
// replayed into fresh containers, and the web proxy guarded by the session token.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { docker, listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';

const LAB = 'inside-the-web-container';

async function call(
  server: RunningServer,
  method: string,
  url: string,
  options: { cookie?: string; token?: string; body?: unknown } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.cookie) headers.cookie = options.cookie;
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return fetch(`${server.url}${url}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    redirect: 'manual',
  });
}

/** Runs a command as ddev in the session's web container and waits for it to finish. */
async function runAsDdev(server: RunningServer, sessionId: string, command: string): Promise<void> {
  const web = (await listManaged(server.instance, sessionId)).containers.find(
    (info) => info.Labels['dev.ddevlab.service'] === 'web',
  )!;
  const exec = await docker
    .getContainer(web.Id)
    .exec({ Cmd: ['sh', '-c', command], User: 'ddev', AttachStdout: true });
  const stream = await exec.start({});
  stream.resume();
  await new Promise((resolve) => stream.once('end', resolve));
}

describe('lab engine on Docker', () => {
  const instance = uniqueInstance('it-engine');
  let folder: string;

  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'ddev-lab-engine-'));
  });

  after(async () => {
    await removeInstance(instance);
    await rm(folder, { recursive: true, force: true });
  });

  test('progress survives a server restart', async () => {
    const env = { LAB_DATABASE: path.join(folder, 'state.sqlite') };
    const first = await startLabServer({ instance, env });
    const started = await call(first, 'POST', '/api/sessions', { body: { labId: LAB } });
    const cookie = started.headers
      .getSetCookie()
      .find((value) => value.startsWith('ddevlab_learner='))!
      .split(';')[0]!;
    const session = await started.json();
    const failed = await call(
      first,
      'POST',
      `/api/sessions/${session.sessionId}/steps/pid-one/check`,
      { cookie, token: session.token },
    );
    assert.equal((await failed.json()).passed, false);
    await runAsDdev(first, session.sessionId, 'ps -o comm= -p 1 > ~/pid1.txt');
    const passed = await call(
      first,
      'POST',
      `/api/sessions/${session.sessionId}/steps/pid-one/check`,
      { cookie, token: session.token },
    );
    assert.equal((await passed.json()).passed, true);
    await first.kill('SIGTERM');

    await using second = await startLabServer({ instance, env });
    const progressBefore = await (
      await call(second, 'GET', `/api/labs/${LAB}/progress`, { cookie })
    ).json();
    assert.deepEqual(progressBefore.passedSteps, ['pid-one']);
    assert.equal(progressBefore.session, null);
    assert.equal(progressBefore.hints['pid-one'].length, 1);

    const resumed = await (
      await call(second, 'POST', '/api/sessions', { cookie, body: { labId: LAB } })
    ).json();
    const progressAfter = await (
      await call(second, 'GET', `/api/labs/${LAB}/progress`, { cookie })
    ).json();
    assert.equal(progressAfter.session.sessionId, resumed.sessionId);
    assert.deepEqual(resumed.passedSteps, ['pid-one']);
  });

  test('fresh session replays passed steps', async () => {
    const env = { LAB_DATABASE: path.join(folder, 'replay.sqlite') };
    await using server = await startLabServer({ instance: `${instance}-r`, env });
    try {
      const started = await call(server, 'POST', '/api/sessions', { body: { labId: LAB } });
      const cookie = started.headers
        .getSetCookie()
        .find((value) => value.startsWith('ddevlab_learner='))!
        .split(';')[0]!;
      const session = await started.json();
      await runAsDdev(server, session.sessionId, 'ps -o comm= -p 1 > ~/pid1.txt');
      const check = await (
        await call(server, 'POST', `/api/sessions/${session.sessionId}/steps/pid-one/check`, {
          cookie,
          token: session.token,
        })
      ).json();
      assert.equal(check.passed, true, check.message);
      await call(server, 'DELETE', `/api/sessions/${session.sessionId}`, { token: session.token });

      const fresh = await (
        await call(server, 'POST', '/api/sessions', { cookie, body: { labId: LAB } })
      ).json();

      assert.notEqual(fresh.sessionId, session.sessionId);
      assert.deepEqual(fresh.passedSteps, ['pid-one']);
      const again = await (
        await call(server, 'POST', `/api/sessions/${fresh.sessionId}/steps/pid-one/check`, {
          cookie,
          token: fresh.token,
        })
      ).json();
      assert.equal(again.passed, true, 'the replayed solution did not recreate ~/pid1.txt');
    } finally {
      await removeInstance(`${instance}-r`);
    }
  });

  test('web proxy needs the session token', async () => {
    await using server = await startLabServer({
      instance: `${instance}-w`,
      env: { LAB_DATABASE: ':memory:' },
    });
    try {
      const started = await call(server, 'POST', '/api/sessions', { body: { labId: LAB } });
      const session = await started.json();
      const webCookie = started.headers
        .getSetCookie()
        .find((value) => value.startsWith(`ddevlab_web_${session.sessionId}=`))!;
      const url = session.web.find((entry: { id: string }) => entry.id === 'nginx').url as string;

      const anonymous = await call(server, 'GET', url);
      const wrong = await call(server, 'GET', url, {
        cookie: `ddevlab_web_${session.sessionId}=${'x'.repeat(43)}`,
      });
      const withCookie = await call(server, 'GET', url, { cookie: webCookie.split(';')[0]! });
      const withBearer = await call(server, 'GET', url.replace(/\/$/, ''), {
        token: session.token,
      });
      const unknownWeb = await call(server, 'GET', url.replace('/nginx/', '/nope/'), {
        token: session.token,
      });

      assert.equal(anonymous.status, 401);
      assert.equal(wrong.status, 401);
      assert.equal(withCookie.status, 200);
      assert.match(await withCookie.text(), /fpm-fcgi/);
      assert.equal(withBearer.status, 308);
      assert.equal(withBearer.headers.get('location'), url);
      assert.equal(unknownWeb.status, 400);
      assert.match(webCookie, /HttpOnly/);
      assert.match(webCookie, /SameSite=Strict/);
      assert.match(webCookie, new RegExp(`Path=/api/sessions/${session.sessionId}/web/`));
    } finally {
      await removeInstance(`${instance}-w`);
    }
  });
});
