// Engine-wide facts for the start-up guards and the disk watch: the engine's version, runc,
// user namespaces, seccomp and whether it can cap a container's writable layer, and the size of
// each sandbox container's writable layer.
import type Docker from 'dockerode';

import { labelFilter, LABELS, managedLabels } from './labels.ts';
import type { EngineFacts, WritableLayer } from './runtime.ts';

/** Reads the engine's facts and probes whether it can cap a container's writable layer. */
export async function inspectEngine(docker: Docker): Promise<EngineFacts> {
  const info = (await docker.info()) as {
    ServerVersion: string;
    Driver: string;
    DriverStatus?: [string, string][];
    SecurityOptions?: string[];
    RuncCommit?: { ID?: string };
  };
  const version = (await docker.version()) as { Components?: { Name: string; Version: string }[] };

  const runc = version.Components?.find((component) => component.Name.toLowerCase() === 'runc');
  const backing = info.DriverStatus?.find(([key]) => key === 'Backing Filesystem')?.[1];
  const security = info.SecurityOptions ?? [];
  const storageQuota =
    info.Driver === 'overlay2' && backing === 'xfs' && (await probeStorageQuota(docker));

  return {
    serverVersion: info.ServerVersion,
    runcVersion:
      info.RuncCommit?.ID && info.RuncCommit.ID !== 'N/A' ? info.RuncCommit.ID : runc?.Version,
    userNamespaces: security.some((option) => option.includes('name=userns')),
    seccomp: security.some((option) => option.includes('name=seccomp')),
    storageQuota,
  };
}

/** Creates (never starts) a throwaway container with a size quota: xfs without pquota refuses. */
async function probeStorageQuota(docker: Docker): Promise<boolean> {
  const images = await docker.listImages({
    filters: JSON.stringify(labelFilter({ [LABELS.managed]: 'true' })),
  });
  const image = images[0]?.Id;
  if (!image) return false;

  try {
    const container = await docker.createContainer({
      Image: image,
      Labels: managedLabels({ kind: 'sandbox', instance: 'storage-probe' }),
      HostConfig: { StorageOpt: { size: '64M' } },
    });
    await container.remove({ force: true });
    return true;
  } catch {
    return false;
  }
}

/** Measures the writable layer of each running sandbox container of the instance. */
export async function measureWritableLayers(
  docker: Docker,
  instance: string,
): Promise<WritableLayer[]> {
  const filters = JSON.stringify(
    labelFilter({
      [LABELS.managed]: 'true',
      [LABELS.instance]: instance,
      [LABELS.kind]: 'sandbox',
    }),
  );
  const containers = await docker.listContainers({ all: false, size: true, filters });

  return containers.map((info) => ({
    sessionId: info.Labels[LABELS.session] ?? '',
    containerId: info.Id,
    service: info.Labels[LABELS.service] ?? '',
    bytes: (info as { SizeRw?: number }).SizeRw ?? 0,
  }));
}
