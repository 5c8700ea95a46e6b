// The base → php-base → webserver chain on the real Docker Engine: it builds (reusing what is
// up to date), and a web container started with the lab server's hardened settings turns
// healthy and serves its PHP page through php-fpm.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';

import { docker, removeInstance } from '../helpers/docker.ts';
import { uniqueInstance } from '../helpers/lab-server.ts';
import { imageTag } from '../../lab-server/src/images/catalog.ts';
import { ensureImages } from '../../lab-server/src/images/build.ts';
import type { LayerReport } from '../../lab-server/src/images/build.ts';
import { managedLabels } from '../../lab-server/src/sandbox/labels.ts';
import { execText, HARDENED, waitHealthy } from '../helpers/images.ts';

/** The HostConfig the lab server gives every sandbox container, less its resource limits. */

const HEALTHY_WITHIN_MS = 60_000;

describe('webserver image chain', () => {
  const instance = uniqueInstance('it-images');
  let reportDir: string;
  let report: LayerReport;
  let network: Docker.Network;

  before(async () => {
    reportDir = await mkdtemp(join(tmpdir(), 'ddev-lab-report-'));
    report = await ensureImages({
      names: ['webserver'],
      reportPath: join(reportDir, 'report.json'),
    });
    network = await docker.createNetwork({
      Name: `${instance}-net`,
      Labels: managedLabels({ kind: 'network', instance }),
    });
  });

  after(async () => {
    await removeInstance(instance);
    await rm(reportDir, { recursive: true, force: true });
  });

  test('ensureImages covers the chain', () => {
    const names = report.run.results.map((result) => result.name);

    assert.deepEqual(names, ['base', 'php-base', 'webserver']);
  });

  test('layer report lists webserver layers', async () => {
    const written = JSON.parse(
      await readFile(join(reportDir, 'report.json'), 'utf8'),
    ) as LayerReport;
    const webserver = written.images.find((image) => image.tag === imageTag('webserver'));

    assert.ok(webserver, 'the report has no entry for the webserver');
    assert.ok(webserver.sizeBytes > 0);
    assert.ok(
      webserver.layers.some((layer) => layer.instruction.startsWith('RUN ') && layer.sizeBytes > 0),
    );
    assert.ok(webserver.layers.some((layer) => layer.instruction.startsWith('CMD ["/start.sh"]')));
  });

  test('hardened nginx-fpm serves PHP', async () => {
    const container = await startWeb(instance, network, 'nginx-fpm');

    await waitHealthy(container, HEALTHY_WITHIN_MS);
    const page = await execText(container, ['curl', '--silent', '--fail', 'http://localhost/']);

    assert.match(page, /nginx\/\d/);
    assert.match(page, /fpm-fcgi/);
    assert.match(page, /Runs as<\/dt>\s*<dd>ddev/);
  });

  test('supervisord is PID 1', async () => {
    const container = await startWeb(instance, network, 'nginx-fpm');
    await waitHealthy(container, HEALTHY_WITHIN_MS);

    const pid1 = await execText(container, ['cat', '/proc/1/cmdline']);
    const processes = await execText(container, ['ps', '-eo', 'comm']);
    const logs = (await container.logs({ stdout: true, stderr: true })).toString('utf8');

    assert.match(pid1, /supervisord/);
    assert.match(processes, /^nginx$/m);
    assert.match(processes, /^php-fpm/m);
    assert.match(logs, /ready to handle connections/, 'php-fpm logs reach the container output');
  });

  test('hardened apache-fpm serves PHP', async () => {
    const container = await startWeb(instance, network, 'apache-fpm');

    await waitHealthy(container, HEALTHY_WITHIN_MS);
    const page = await execText(container, ['curl', '--silent', '--fail', 'http://localhost/']);
    const processes = await execText(container, ['ps', '-eo', 'comm']);

    assert.match(page, /Apache\/2/);
    assert.match(page, /fpm-fcgi/);
    assert.doesNotMatch(processes, /^nginx$/m);
  });

  test('generic type starts no web server', async () => {
    const container = await startWeb(instance, network, 'generic');

    await waitHealthy(container, HEALTHY_WITHIN_MS);
    const processes = await execText(container, ['ps', '-eo', 'comm']);

    assert.doesNotMatch(processes, /^nginx$/m);
    assert.doesNotMatch(processes, /^apache2$/m);
    assert.doesNotMatch(processes, /^php-fpm/m);
  });

  test('root container serves as ddev', async () => {
    const container = await startWeb(instance, network, 'nginx-fpm', 'root');

    await waitHealthy(container, HEALTHY_WITHIN_MS);
    const page = await execText(container, ['curl', '--silent', '--fail', 'http://localhost/']);
    const workers = await execText(container, ['ps', '-o', 'user=', '-C', 'nginx,php-fpm']);

    assert.match(page, /Runs as<\/dt>\s*<dd>ddev/);
    assert.match(workers, /^ddev$/m);
  });

  test('second ensureImages is a no-op', async () => {
    const again = await ensureImages({
      names: ['webserver'],
      reportPath: join(reportDir, 'again.json'),
    });

    for (const result of again.run.results) {
      assert.equal(result.action, 'up-to-date', `${result.tag} was rebuilt`);
    }
  });
});

async function startWeb(
  instance: string,
  network: Docker.Network,
  webserverType: string,
  user?: string,
): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: imageTag('webserver'),
    User: user,
    Env: [`DDEV_WEBSERVER_TYPE=${webserverType}`],
    Labels: managedLabels({ kind: 'sandbox', instance, service: 'web' }),
    HostConfig: { ...HARDENED, NetworkMode: network.id },
  });
  await container.start();
  return container;
}
