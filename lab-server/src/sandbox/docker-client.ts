// The one place that constructs a dockerode client. Only modules under sandbox/ import dockerode.
import Docker from 'dockerode';

import { DockerUnavailableError } from '../errors.ts';

/** Creates a client for the engine named by DOCKER_HOST, or the local socket by default. */
export function createDockerClient(): Docker {
  return new Docker();
}

/** Pings the engine and throws DockerUnavailableError with a fix when it does not reply. */
export async function assertDockerReachable(docker: Docker): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    throw new DockerUnavailableError(describeEndpoint(), error);
  }
}

function describeEndpoint(): string {
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}
