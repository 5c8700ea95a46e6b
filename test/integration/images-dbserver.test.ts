// The dbserver images on the real Docker Engine: each starts hardened and turns healthy, and a
// PHP page in the webserver reaches it by the host name db over a session network.
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
import { managedLabels } from '../../lab-server/src/sandbox/labels.ts';
import { execText, HARDENED, waitHealthy } from '../helpers/images.ts';

const HEALTHY_WITHIN_MS = 90_000;

describe('dbserver images', () => {
  const instance = uniqueInstance('it-images-db');
  let reportDir: string;

  before(async () => {
    reportDir = await mkdtemp(join(tmpdir(), 'ddev-lab-report-'));
    await ensureImages({
      names: ['webserver', 'dbserver-mariadb', 'dbserver-postgres'],
      reportPath: join(reportDir, 'report.json'),
    });
  });

  after(async () => {
    await removeInstance(instance);
    await rm(reportDir, { recursive: true, force: true });
  });

  test('web reaches MariaDB as db', async () => {
    const network = await createNetwork(instance, 'mariadb');
    const db = await startService(instance, network, 'dbserver-mariadb', ['db']);
    const web = await startService(instance, network, 'webserver', []);

    await Promise.all([waitHealthy(db, HEALTHY_WITHIN_MS), waitHealthy(web, HEALTHY_WITHIN_MS)]);
    const page = await execText(web, ['curl', '--silent', '--fail', 'http://localhost/db.php']);

    assert.match(page, /Connected to MariaDB at db: 11\.8\./);
  });

  test('MariaDB image has mariadb-backup', async () => {
    const network = await createNetwork(instance, 'backup');
    const db = await startService(instance, network, 'dbserver-mariadb', ['db']);
    await waitHealthy(db, HEALTHY_WITHIN_MS);

    // mariadb-backup prints its version on stderr.
    const version = await execText(db, ['sh', '-c', 'mariadb-backup --version 2>&1']);
    const user = await execText(db, [
      'mariadb',
      '-udb',
      '-pdb',
      '-N',
      '-e',
      'SELECT CURRENT_USER()',
    ]);

    assert.match(version, /mariadb-backup/i);
    assert.equal(user.trim(), 'db@localhost');
  });

  test('web reaches PostgreSQL as db', async () => {
    const network = await createNetwork(instance, 'postgres');
    const db = await startService(instance, network, 'dbserver-postgres', ['db']);
    const web = await startService(instance, network, 'webserver', []);

    await Promise.all([waitHealthy(db, HEALTHY_WITHIN_MS), waitHealthy(web, HEALTHY_WITHIN_MS)]);
    const page = await execText(web, ['curl', '--silent', '--fail', 'http://localhost/db.php']);

    assert.match(page, /Connected to PostgreSQL at db: PostgreSQL 17\./);
  });
});

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
    Image: imageTag(image),
    Labels: managedLabels({ kind: 'sandbox', instance, service: image }),
    HostConfig: { ...HARDENED, NetworkMode: network.id },
    NetworkingConfig: { EndpointsConfig: { [network.id]: { Aliases: aliases } } },
  });
  await container.start();
  return container;
}
