// The router image on the real Docker Engine: it sends two projects' host names to two web
// containers, serves the no-project page for other host names, and reloads routes without
// dropping a request in flight.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';

import { docker, removeInstance } from '../helpers/docker.ts';
import { uniqueInstance } from '../helpers/lab-server.ts';
import { imageTag } from '../../lab-server/src/images/catalog.ts';
import type { ImageName } from '../../lab-server/src/images/catalog.ts';
import { ensureImages } from '../../lab-server/src/images/build.ts';
import { renderRouteFile } from '../../lab-server/src/images/router-routes.ts';
import { DockerRuntime } from '../../lab-server/src/sandbox/docker-runtime.ts';
import { listRoutes, putRoute } from '../../lab-server/src/sandbox/image-router.ts';
import { managedLabels } from '../../lab-server/src/sandbox/labels.ts';
import { execText, HARDENED, waitHealthy } from '../helpers/images.ts';

const HEALTHY_WITHIN_MS = 60_000;
const runtime = new DockerRuntime(docker);

describe('router image', () => {
  const instance = uniqueInstance('it-images-router');
  let reportDir: string;
  let router: Docker.Container;
  let alpha: Docker.Container;

  before(async () => {
    reportDir = await mkdtemp(join(tmpdir(), 'ddev-lab-report-'));
    await ensureImages({
      names: ['webserver', 'router'],
      reportPath: join(reportDir, 'report.json'),
    });

    const network = await docker.createNetwork({
      Name: `${instance}-net`,
      Labels: managedLabels({ kind: 'network', instance }),
    });
    router = await startService(instance, network, 'router', 'ddev-router');
    alpha = await startService(instance, network, 'webserver', 'ddev-alpha-web');
    const beta = await startService(instance, network, 'webserver', 'ddev-beta-web');
    await Promise.all([
      waitHealthy(router, HEALTHY_WITHIN_MS),
      waitHealthy(alpha, HEALTHY_WITHIN_MS),
      waitHealthy(beta, HEALTHY_WITHIN_MS),
    ]);

    for (const project of ['alpha', 'beta']) {
      const routeFile = renderRouteFile({
        project,
        upstreamHost: `ddev-${project}-web`,
        virtualHost: `${project}.ddev.site`,
        httpExpose: '80:80',
      });
      await putRoute(runtime, router.id, project, routeFile);
    }
  });

  after(async () => {
    await removeInstance(instance);
    await rm(reportDir, { recursive: true, force: true });
  });

  test('routes each host to its project', async () => {
    const alphaPage = await fetchThrough(router, 'alpha.ddev.site', '/');
    const betaPage = await fetchThrough(router, 'beta.ddev.site', '/');

    assert.match(alphaPage, /<dd>ddev-alpha-web<\/dd>/);
    assert.match(betaPage, /<dd>ddev-beta-web<\/dd>/);
  });

  test('unknown host gets the no-project page', async () => {
    const output = await execText(router, [
      'curl',
      '--silent',
      '--write-out',
      '\\n%{http_code}',
      '--header',
      'Host: gamma.ddev.site',
      'http://127.0.0.1/',
    ]);

    assert.match(output, /No DDEV project is served at gamma\.ddev\.site/);
    assert.match(output, /\n404$/);
  });

  test('invalid route is rolled back', async () => {
    await assert.rejects(
      putRoute(runtime, router.id, 'broken', 'server { nonsense; }\n'),
      /nginx rejected/,
    );

    const routes = await listRoutes(runtime, router.id);

    assert.deepEqual(routes, ['alpha', 'beta']);
    assert.match(await fetchThrough(router, 'alpha.ddev.site', '/'), /ddev-alpha-web/);
  });

  test('reload keeps requests in flight', async () => {
    await execText(alpha, [
      'sh',
      '-c',
      `echo '<?php sleep(3); echo "slow done";' > /var/www/html/slow.php`,
    ]);

    const slow = fetchThrough(router, 'alpha.ddev.site', '/slow.php');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const routeFile = renderRouteFile({
      project: 'beta',
      upstreamHost: 'ddev-beta-web',
      virtualHost: 'beta.ddev.site,www.beta.ddev.site',
      httpExpose: '80:80',
    });
    await putRoute(runtime, router.id, 'beta', routeFile);

    assert.equal(await slow, 'slow done');
    assert.match(await fetchThrough(router, 'www.beta.ddev.site', '/'), /ddev-beta-web/);
  });
});

async function startService(
  instance: string,
  network: Docker.Network,
  image: ImageName,
  name: string,
): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: imageTag(image),
    Hostname: name,
    Labels: managedLabels({ kind: 'sandbox', instance, service: name }),
    HostConfig: { ...HARDENED, NetworkMode: network.id },
    NetworkingConfig: { EndpointsConfig: { [network.id]: { Aliases: [name] } } },
  });
  await container.start();
  return container;
}

function fetchThrough(router: Docker.Container, host: string, path: string): Promise<string> {
  return execText(router, [
    'curl',
    '--silent',
    '--fail',
    '--header',
    `Host: ${host}`,
    `http://127.0.0.1${path}`,
  ]);
}
