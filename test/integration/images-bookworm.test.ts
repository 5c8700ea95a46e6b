// The images built on Debian 12 (bookworm), as DDEV v1.23 and v1.24 used: each service image
// starts hardened and turns healthy, and the webserver serves PHP 8.2 and reaches both databases.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';

import { docker, removeInstance } from '../helpers/docker.ts';
import { uniqueInstance } from '../helpers/lab-server.ts';
import { IMAGE_NAMES, imageTag } from '../../lab-server/src/images/catalog.ts';
import type { ImageName } from '../../lab-server/src/images/catalog.ts';
import { ensureImages } from '../../lab-server/src/images/build.ts';
import type { LayerReport } from '../../lab-server/src/images/build.ts';
import { managedLabels } from '../../lab-server/src/sandbox/labels.ts';
import { execText, HARDENED, waitHealthy } from '../helpers/images.ts';

const RELEASE = 'bookworm';

/** The images that run as a service; base and php-base are only built on. */
const SERVICE_IMAGES: ImageName[] = [
  'webserver',
  'webserver-squashed',
  'dbserver-mariadb',
  'dbserver-postgres',
  'router',
];

const HEALTHY_WITHIN_MS = 90_000;

describe('bookworm images', () => {
  const instance = uniqueInstance('it-images-bookworm');
  let reportDir: string;
  let report: LayerReport;

  before(async () => {
    reportDir = await mkdtemp(join(tmpdir(), 'ddev-lab-report-'));
    report = await ensureImages({ release: RELEASE, reportPath: join(reportDir, 'report.json') });
  });

  after(async () => {
    await removeInstance(instance);
    await rm(reportDir, { recursive: true, force: true });
  });

  test('every image builds on bookworm', () => {
    const tags = report.run.results.map((result) => result.tag);

    assert.deepEqual(
      tags,
      IMAGE_NAMES.map((name) => imageTag(name, RELEASE)),
    );
  });

  for (const image of SERVICE_IMAGES) {
    test(`${image} turns healthy`, async () => {
      const network = await createNetwork(instance, image);
      const container = await startService(instance, network, image, []);

      await waitHealthy(container, HEALTHY_WITHIN_MS);
    });
  }

  test('webserver serves PHP 8.2', async () => {
    const network = await createNetwork(instance, 'php');
    const web = await startService(instance, network, 'webserver', []);
    await waitHealthy(web, HEALTHY_WITHIN_MS);

    const page = await execText(web, ['curl', '--silent', '--fail', 'http://localhost/']);

    assert.match(page, /<dd>8\.2\.\d+<\/dd>/);
    assert.match(page, /fpm-fcgi/);
  });

  test('web reaches MariaDB 10.11 as db', async () => {
    const page = await fetchDbPage(instance, 'dbserver-mariadb');

    assert.match(page, /Connected to MariaDB at db: 10\.11\./);
  });

  test('web reaches PostgreSQL 15 as db', async () => {
    const page = await fetchDbPage(instance, 'dbserver-postgres');

    assert.match(page, /Connected to PostgreSQL at db: PostgreSQL 15\./);
  });
});

async function fetchDbPage(instance: string, dbImage: ImageName): Promise<string> {
  const network = await createNetwork(instance, `${dbImage}-web`);
  const db = await startService(instance, network, dbImage, ['db']);
  const web = await startService(instance, network, 'webserver', []);
  await Promise.all([waitHealthy(db, HEALTHY_WITHIN_MS), waitHealthy(web, HEALTHY_WITHIN_MS)]);

  return execText(web, ['curl', '--silent', '--fail', 'http://localhost/db.php']);
}

async function createNetwork(instance: string, suffix: string): Promise<Docker.Network> {
  return docker.createNetwork({
    Name: `${instance}-${suffix}`,
    Labels: managedLabels({ kind: 'network', instance }),
  });
}

async function startService(
  instance: string,
  network: Docker.Network,
  image: ImageName,
  aliases: string[],
): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: imageTag(image, RELEASE),
    Labels: managedLabels({ kind: 'sandbox', instance, service: image }),
    HostConfig: { ...HARDENED, NetworkMode: network.id },
    NetworkingConfig: { EndpointsConfig: { [network.id]: { Aliases: aliases } } },
  });
  await container.start();
  return container;
}
