// Installs and removes project routes in a running router container through its router-route
// command, over docker exec, so the router itself never needs the Docker socket.
import type Docker from 'dockerode';
import { PassThrough } from 'node:stream';

/** Writes a project's route file into the router and reloads it; throws when nginx rejects it. */
export async function putRoute(
  docker: Docker,
  routerContainerId: string,
  project: string,
  routeFile: string,
): Promise<void> {
  await runRouterRoute(docker, routerContainerId, ['put', project], routeFile);
}

/** Removes a project's route file from the router and reloads it. */
export async function removeRoute(
  docker: Docker,
  routerContainerId: string,
  project: string,
): Promise<void> {
  await runRouterRoute(docker, routerContainerId, ['remove', project]);
}

async function runRouterRoute(
  docker: Docker,
  containerId: string,
  args: string[],
  input?: string,
): Promise<void> {
  const exec = await docker.getContainer(containerId).exec({
    Cmd: ['router-route', ...args],
    User: 'ddev',
    AttachStdin: input !== undefined,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: input !== undefined });

  const output: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => output.push(chunk));
  docker.modem.demuxStream(stream, sink, sink);

  const ended = new Promise((resolve) => stream.on('end', resolve));
  if (input !== undefined) stream.end(input);
  await ended;

  const { ExitCode } = await exec.inspect();
  if (ExitCode !== 0) {
    const message = Buffer.concat(output).toString('utf8').trim();
    throw new Error(`router-route ${args.join(' ')} failed (exit ${ExitCode}): ${message}`);
  }
}
