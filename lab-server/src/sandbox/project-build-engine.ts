// Docker operations for project image builds: copying a folder out of a container, building a
// `-built` image with limits, recreating a container from it, and removing built images by label.
// The project-build module calls these through ProjectBuildEngine and never imports dockerode.
import type Docker from 'dockerode';

import { createDockerClient } from './docker-client.ts';
import { followJsonStream, isNotFound } from './image-stream.ts';
import { LABELS } from './labels.ts';
import { ignoreGone, recreateContainer, type RecreateRequest } from './project-build-recreate.ts';
import { ensureBuildNetwork } from './build-network.ts';

export type { RecreateRequest };

export interface BuildLimits {
  memoryBytes: number;
  nanoCpus: number;
  timeoutSeconds: number;
}

export interface ProjectImageBuild {
  tag: string;
  /** A tar stream of the build context, the generated Dockerfile at its root. */
  context: NodeJS.ReadableStream;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  limits: BuildLimits;
  onLine: (line: string) => void;
}

export type ProjectImageBuildResult =
  | { ok: true; imageId: string }
  | { ok: false; timedOut: boolean; detail: string; step?: { number: number; text: string } };

export interface ImageLayer {
  createdBy: string;
  sizeBytes: number;
}

export interface ProjectBuildEngine {
  platform(): Promise<{ os: string; architecture: string }>;
  /** Returns a tar stream of the path in the container, or undefined when the path is missing. */
  copyFromContainer(containerId: string, path: string): Promise<NodeJS.ReadableStream | undefined>;
  buildImage(request: ProjectImageBuild): Promise<ProjectImageBuildResult>;
  /** Replaces the container with one from the image; throws, leaving the old one running, on failure. */
  recreateContainer(request: RecreateRequest): Promise<string>;
  layers(imageId: string): Promise<ImageLayer[]>;
  /** Returns the USER an image runs as, '' for root by default. */
  imageUser(tag: string): Promise<string>;
  /** Removes the images that match every label, and the containers made from them. */
  removeImages(labels: Record<string, string>): Promise<number>;
}

const STEP_LINE = /^Step (\d+)\/\d+ : (.*)$/;
const IMAGE_LINE = /^ ---> ([0-9a-f]{12})$/;

/** Opens a ProjectBuildEngine on the local engine, or the one DOCKER_HOST names. */
export function openProjectBuildEngine(docker: Docker = createDockerClient()): ProjectBuildEngine {
  return {
    platform: async () => {
      const info = await docker.info();
      return { os: String(info.OSType ?? 'linux'), architecture: String(info.Architecture ?? 'x86_64') };
    },
    copyFromContainer: (containerId, path) => copyFromContainer(docker, containerId, path),
    buildImage: (request) => buildProjectImage(docker, request),
    recreateContainer: (request) => recreateContainer(docker, request),
    layers: (imageId) => imageLayers(docker, imageId),
    imageUser: async (tag) => (await docker.getImage(tag).inspect()).Config.User ?? '',
    removeImages: (labels) => removeImages(docker, labels),
  };
}

async function copyFromContainer(docker: Docker, containerId: string, path: string) {
  try {
    return await docker.getContainer(containerId).getArchive({ path });
  } catch (error) {
    if (isNotFound(error) && (error as { reason?: string }).reason !== 'no such container') return undefined;
    throw error;
  }
}

/**
 * Builds with the classic builder under memory and CPU limits, and stops the build when it runs
 * past its time limit: the engine cancels a build whose client disconnects.
 */
async function buildProjectImage(docker: Docker, request: ProjectImageBuild): Promise<ProjectImageBuildResult> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), request.limits.timeoutSeconds * 1000);
  const cpuPeriod = 100_000;
  let step: { number: number; text: string } | undefined;
  const stepImages = new Set<string>();

  const onLine = (line: string) => {
    const match = STEP_LINE.exec(line);
    if (match) step = { number: Number(match[1]), text: match[2]! };
    const image = IMAGE_LINE.exec(line);
    if (image) stepImages.add(image[1]!);
    request.onLine(line);
  };

  try {
    const network = await ensureBuildNetwork(docker, request.labels[LABELS.instance] ?? 'default', request.labels[LABELS.session] ?? 'none');
    const stream = await docker.buildImage(request.context, {
      t: request.tag,
      networkmode: network,
      buildargs: request.buildArgs,
      labels: request.labels,
      rm: true,
      forcerm: true,
      pull: false,
      memory: request.limits.memoryBytes,
      memswap: request.limits.memoryBytes,
      cpuperiod: cpuPeriod,
      cpuquota: Math.max(1000, Math.round((request.limits.nanoCpus / 1e9) * cpuPeriod)),
      abortSignal: abort.signal,
    } as Docker.ImageBuildOptions);

    const messages = await followJsonStream(stream, onLine);
    const failure = messages.find((message) => message.error);
    if (failure) return { ok: false, timedOut: false, detail: String(failure.error).trim(), step };

    const built = messages.findLast((message) => message.aux?.ID)?.aux?.ID;
    const imageId = built ?? (await docker.getImage(request.tag).inspect()).Id;
    return { ok: true, imageId };
  } catch (error) {
    if (abort.signal.aborted) return { ok: false, timedOut: true, detail: 'the time limit was reached', step };
    throw error;
  } finally {
    clearTimeout(timer);
    await removeLeftSteps(docker, stepImages);
  }
}

/**
 * Removes the step images a build left without a tag or a child: every step of a failed build and
 * the last step of each extra stage. They carry no session label, only the labels of the base
 * image, so they would outlive the session. A step image that is a parent of another image is
 * kept by the engine (409), and tagged images are never touched.
 */
async function removeLeftSteps(docker: Docker, stepImages: Set<string>): Promise<void> {
  for (const id of [...stepImages].reverse()) {
    const info = await docker
      .getImage(id)
      .inspect()
      .catch(() => undefined);
    const tags = (info?.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>');
    if (!info || tags.length > 0) continue;

    // NOTE: a build running at the same moment may be about to use this step as its cache parent.
    // That build then fails, and pressing its Restart again succeeds.
    await docker
      .getImage(info.Id)
      .remove({ noprune: false })
      .catch(() => undefined);
  }
}

async function imageLayers(docker: Docker, imageId: string): Promise<ImageLayer[]> {
  const history: Array<{ CreatedBy: string; Size: number }> = await docker.getImage(imageId).history();
  return history.map((entry) => ({ createdBy: entry.CreatedBy, sizeBytes: entry.Size }));
}

async function removeImages(docker: Docker, labels: Record<string, string>): Promise<number> {
  const filters = JSON.stringify({ label: Object.entries(labels).map(([key, value]) => (value ? `${key}=${value}` : key)) });
  const images = await docker.listImages({ filters });
  if (images.length === 0) return 0;

  // A container made from a built image keeps it in use; remove such containers first.
  const ids = new Set(images.map((image) => image.Id));
  const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${LABELS.managed}=true`] }) });
  const users = containers.filter((container) => ids.has(container.ImageID));
  await Promise.all(users.map((container) => ignoreGone(docker.getContainer(container.Id).remove({ force: true }))));

  // A 409 here means the image is still in use, so it is not treated as removed.
  await Promise.all(
    images.map((image) =>
      docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch((error: unknown) => {
          if (!isNotFound(error)) throw error;
        }),
    ),
  );
  return images.length;
}
