// Recreates a sandbox container from a newly built image, as `ddev start` recreates the web
// container from its `-built` image. The new container starts beside the old one and replaces it
// only once it runs (and is healthy, when the image has a health check), so a failure leaves the
// old container running.
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';

import { RecreateFailedError } from '../project-build/errors.ts';
import { LABELS, LABEL_PREFIX } from './labels.ts';

export interface RecreateRequest {
  containerId: string;
  imageId: string;
  /** Shown in messages, for example the `-built` tag. */
  imageName: string;
  /** Variables set on the new container, replacing the old container's values. */
  environment: Record<string, string>;
  /** A folder copied from the old container into the new one before it starts, such as the project. */
  carryPath?: string;
  startTimeoutSeconds: number;
  onLine: (line: string) => void;
}

const SANDBOX_LABELS: readonly string[] = [
  LABELS.managed,
  LABELS.kind,
  LABELS.instance,
  LABELS.session,
  LABELS.lab,
  LABELS.service,
  LABELS.expires,
];

export async function recreateContainer(docker: Docker, request: RecreateRequest): Promise<string> {
  const old = await docker.getContainer(request.containerId).inspect();
  const oldImage = await docker.getImage(old.Image).inspect();
  const created = await docker.createContainer(replacementSpec(old, oldImage, request));
  request.onLine(`created ${created.id.slice(0, 12)} from ${request.imageName}`);

  try {
    if (request.carryPath) await carryFolder(docker, old.Id, created, request.carryPath);
    await created.start();
    await waitUntilReady(created, request.startTimeoutSeconds, request.onLine);
  } catch (error) {
    await ignoreGone(created.remove({ force: true }));
    request.onLine(`removed ${created.id.slice(0, 12)}; the old container keeps running`);
    throw new RecreateFailedError(request.imageName, (error as Error).message);
  }

  await ignoreGone(docker.getContainer(old.Id).remove({ force: true }));
  await created.rename({ name: old.Name.replace(/^\//, '') });
  request.onLine(`replaced ${old.Id.slice(0, 12)} with ${created.id.slice(0, 12)}`);
  return created.id;
}

/**
 * Copies the old container's settings that were set for it, not inherited from its image, so
 * that the new image's own ENV, CMD and health check apply.
 */
function replacementSpec(
  old: Docker.ContainerInspectInfo,
  oldImage: Docker.ImageInspectInfo,
  request: RecreateRequest,
): Docker.ContainerCreateOptions {
  const imageConfig = oldImage.Config;
  const differs = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  const imageEnvironment = new Set(imageConfig.Env ?? []);
  const environment = new Map<string, string>();
  for (const entry of old.Config.Env ?? []) {
    if (imageEnvironment.has(entry)) continue;
    const split = entry.indexOf('=');
    environment.set(entry.slice(0, split), entry.slice(split + 1));
  }
  for (const [key, value] of Object.entries(request.environment)) environment.set(key, value);

  const labels = Object.fromEntries(
    Object.entries(old.Config.Labels ?? {}).filter(
      ([key]) => key.startsWith(LABEL_PREFIX) && SANDBOX_LABELS.includes(key),
    ),
  );

  const networks = Object.entries(old.NetworkSettings.Networks ?? {});
  const endpoints = Object.fromEntries(
    networks.map(([name, endpoint]) => [
      name,
      { Aliases: (endpoint.Aliases ?? []).filter((alias: string) => !old.Id.startsWith(alias)) },
    ]),
  );

  return {
    name: temporaryName(old.Name),
    Image: request.imageId,
    Hostname: old.Config.Hostname,
    Env: [...environment].map(([key, value]) => `${key}=${value}`),
    Labels: labels,
    Cmd: differs(old.Config.Cmd, imageConfig.Cmd) ? old.Config.Cmd : undefined,
    Entrypoint: differs(old.Config.Entrypoint, imageConfig.Entrypoint)
      ? old.Config.Entrypoint
      : undefined,
    User: differs(old.Config.User, imageConfig.User) ? old.Config.User : undefined,
    WorkingDir: differs(old.Config.WorkingDir, imageConfig.WorkingDir)
      ? old.Config.WorkingDir
      : undefined,
    Healthcheck: differs(old.Config.Healthcheck, imageConfig.Healthcheck)
      ? old.Config.Healthcheck
      : undefined,
    // The same limits, capabilities, security options and network as the old container.
    HostConfig: old.HostConfig,
    NetworkingConfig: { EndpointsConfig: endpoints },
  };
}

/** Copies a folder of the old container to the same place in the new, owners and modes kept. */
async function carryFolder(
  docker: Docker,
  oldId: string,
  created: Docker.Container,
  folder: string,
) {
  const archive = await docker.getContainer(oldId).getArchive({ path: folder });
  const parent = folder.replace(/\/[^/]+\/?$/, '') || '/';
  await created.putArchive(archive, { path: parent });
}

async function waitUntilReady(
  container: Docker.Container,
  timeoutSeconds: number,
  onLine: (line: string) => void,
) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let lastHealth = '';

  while (Date.now() < deadline) {
    const state = (await container.inspect()).State;
    if (!state.Running) {
      throw new Error(
        `it exited with code ${state.ExitCode}. ${await lastLogLines(container)}`.trim(),
      );
    }

    const health = state.Health?.Status;
    if (health === undefined || health === 'healthy') return;
    if (health === 'unhealthy') {
      const output = state.Health?.Log?.at(-1)?.Output?.trim() ?? '';
      throw new Error(`its health check failed: ${output.slice(0, 300)}`);
    }
    if (health !== lastHealth) onLine(`waiting for the health check (${health})`);
    lastHealth = health;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  throw new Error(`it was not healthy after ${timeoutSeconds} s.`);
}

async function lastLogLines(container: Docker.Container): Promise<string> {
  const buffer = (await container.logs({
    stdout: true,
    stderr: true,
    tail: 10,
    follow: false,
  })) as unknown as Buffer;
  const text = demultiplex(buffer).trim();
  return text ? `Its last output: ${text.slice(-500)}` : '';
}

/** Joins the payloads of a multiplexed log stream: 8-byte frame headers, then the bytes. */
function demultiplex(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Returns a name no other container has, from the name of the container it will replace. */
export function temporaryName(name: string): string {
  return `${name.replace(/^\//, '')}-next-${randomBytes(3).toString('hex')}`;
}

/** Treats "no such resource" (404) and "removal already in progress" (409) as success. */
export async function ignoreGone(removal: Promise<unknown>): Promise<void> {
  try {
    await removal;
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 404 || status === 409) return;
    throw error;
  }
}
