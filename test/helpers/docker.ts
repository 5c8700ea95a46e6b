// Reads and removes test resources on the real Docker Engine, found by label only.
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';

import { LABELS, labelFilter } from '../../lab-server/src/sandbox/labels.ts';

export const docker = new Docker();

export async function listManaged(instance: string, sessionId?: string) {
  const labels: Record<string, string> = { [LABELS.managed]: 'true', [LABELS.instance]: instance };
  if (sessionId) labels[LABELS.session] = sessionId;
  const filters = JSON.stringify(labelFilter(labels));

  const containers = await docker.listContainers({ all: true, filters });
  const networks = await docker.listNetworks({ filters });
  return { containers, networks };
}

/** Removes everything of a test instance; used in `after` hooks so a failed test leaks nothing. */
export async function removeInstance(instance: string): Promise<void> {
  const { containers, networks } = await listManaged(instance);
  await Promise.all(
    containers.map((info) =>
      docker
        .getContainer(info.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
  await Promise.all(
    networks.map((info) =>
      docker
        .getNetwork(info.Id)
        .remove()
        .catch(() => undefined),
    ),
  );
}

/** Removes every image of a test instance, children before their parents. */
export async function removeInstanceImages(instance: string): Promise<void> {
  const images = await docker.listImages({
    all: true,
    filters: JSON.stringify(labelFilter({ [LABELS.instance]: instance })),
  });
  for (const image of images.sort((a, b) => b.Created - a.Created))
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
}

/** Runs a command in a container as the given user (root by default) and returns its output. */
export async function execIn(
  containerId: string,
  command: string,
  user = 'root',
): Promise<{ exitCode: number; output: string }> {
  const exec = await docker.getContainer(containerId).exec({
    Cmd: ['sh', '-c', command],
    AttachStdout: true,
    AttachStderr: true,
    User: user,
  });
  const stream = await exec.start({ hijack: true, stdin: false });

  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => chunks.push(chunk));
  docker.modem.demuxStream(stream, sink, sink);
  await new Promise((resolve) => stream.on('end', resolve));

  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
}
