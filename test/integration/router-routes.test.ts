// The routes the lab server writes into a session's router, on the real Docker Engine. A session
// of the-router lab gets one route per project from its web containers' VIRTUAL_HOST and
// HTTP_EXPOSE. Each project's host name then reaches its own web container, and any other name
// gets the router's no-project page.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { execIn, listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { startSession, stopSession, type StartedSession } from '../helpers/sessions.ts';
import { LABELS } from '../../lab-server/src/sandbox/labels.ts';

const LAB = 'the-router';
/** Starting the containers and waiting for their health checks takes seconds on a quiet host. */
const ROUTES_WITHIN_MS = 120_000;

describe('router routes on Docker', () => {
  const instance = uniqueInstance('it-router-routes');
  let server: RunningServer;
  let session: StartedSession;
  let router: string;

  before(async () => {
    server = await startLabServer({ instance, env: { LAB_DATABASE: ':memory:' } });
    session = await startSession(server, LAB);
    const { containers } = await listManaged(instance, session.sessionId);
    router = containers.find((info) => info.Labels[LABELS.service] === 'router')!.Id;
    await waitForRoutes(server, router, ['one', 'two']);
  });

  after(async () => {
    if (session) await stopSession(server, session);
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  test('route file comes from VIRTUAL_HOST and HTTP_EXPOSE', async () => {
    const { output } = await execIn(router, 'cat /etc/nginx/routes/one.conf', 'ddev');

    assert.match(output, /VIRTUAL_HOST=one\.ddev\.site and HTTP_EXPOSE=80:80/);
    assert.match(output, /listen 80;\n {4}server_name one\.ddev\.site;/);
    assert.match(output, /set \$upstream http:\/\/web-one:80;/);
  });

  test('each project name reaches its web container', async () => {
    const first = await fetchThrough(router, 'one.ddev.site');
    const second = await fetchThrough(router, 'two.ddev.site');

    assert.match(first.body, /<dd>web-one<\/dd>/);
    assert.match(second.body, /<dd>web-two<\/dd>/);
  });

  test('unknown name gets the no-project page', async () => {
    const unknown = await fetchThrough(router, 'three.ddev.site');

    assert.equal(unknown.status, '404');
    assert.match(unknown.body, /No DDEV project is served at three\.ddev\.site on this router\./);
  });

  test('server logs each route it writes', () => {
    const written = server
      .output()
      .split('\n')
      .filter((line) => line.includes('"route written"') && line.includes(session.sessionId));

    assert.equal(written.length, 2, server.output());
  });
});

/** Waits until the router lists the projects, which the lab server writes once services are healthy. */
async function waitForRoutes(
  server: RunningServer,
  router: string,
  projects: string[],
): Promise<void> {
  const deadline = Date.now() + ROUTES_WITHIN_MS;
  let listed = '';

  while (Date.now() < deadline) {
    listed = (await execIn(router, 'router-route list', 'ddev')).output;
    if (projects.every((project) => listed.split('\n').includes(project))) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.fail(
    `the router lists "${listed.trim()}", not ${projects.join(' and ')}:\n${server.output()}`,
  );
}

/** Asks the router for / with the given Host header, from inside the router container. */
async function fetchThrough(
  router: string,
  host: string,
): Promise<{ status: string; body: string }> {
  const { output } = await execIn(
    router,
    `curl -s -w '\\n%{http_code}' -H 'Host: ${host}' http://127.0.0.1/`,
    'ddev',
  );
  const lines = output.trimEnd().split('\n');
  return { status: lines.at(-1)!, body: lines.slice(0, -1).join('\n') };
}
