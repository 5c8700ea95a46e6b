// Docker operations for project image builds: copying a folder out of a container, building a
// `-built` image with the step builder under the session's limits, recreating a container from
// it, and removing built images by label.
// The project-build module calls these through ProjectBuildEngine and never imports dockerode.
import type Docker from 'dockerode';

import { createDockerClient } from './docker-client.ts';
import { isNotFound } from './image-stream.ts';
import { LABELS } from './labels.ts';
import { ignoreGone, recreateContainer, type RecreateRequest } from './project-build-recreate.ts';
import { ensureBuildNetwork } from './build-network.ts';
import { DEFAULT_SUBNET_POOL, type SubnetPool } from './subnets.ts';
import { StepBuilder } from './step-builder/builder.ts';
import { readContext } from './step-builder/context.ts';
import { readAll } from './step-builder/engine.ts';

export type { RecreateRequest };

export interface BuildLimits {
  memoryBytes: number;
  nanoCpus: number;
  pids: number;
  /** Bytes a build may add in all; a RUN step that writes more is stopped. */
  diskBytes: number;
  timeoutSeconds: number;
}

export interface ProjectImageBuild {
  tag: string;
  /** The tag as the output's `Successfully tagged` shows it; `tag` by default. */
  shownTag?: string;
  /** A tar stream of the build context, the generated Dockerfile at its root. */
  context: NodeJS.ReadableStream;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  /**
   * Tags of the images FROM and COPY --from may read besides earlier stages: $BASE_IMAGE and the
   * lab's allowed images. The step builder opens no other image, whatever the Dockerfile names.
   */
  allowedImages: readonly string[];
  limits: BuildLimits;
  /** Lets RUN steps reach the internet; without it their network is internal. */
  egress?: boolean;
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
  /** Removes the containers of build steps, which only an interrupted build leaves behind. */
  removeBuildContainers?(instance: string): Promise<number>;
}

/** Opens a ProjectBuildEngine on the local engine, or the one DOCKER_HOST names. */
export function openProjectBuildEngine(
  docker: Docker = createDockerClient(),
  builder: StepBuilder = new StepBuilder(docker),
  subnetPool: SubnetPool = DEFAULT_SUBNET_POOL,
): ProjectBuildEngine {
  return {
    platform: async () => {
      const info = await docker.info();
      return {
        os: String(info.OSType ?? 'linux'),
        architecture: String(info.Architecture ?? 'x86_64'),
      };
    },
    copyFromContainer: (containerId, path) => copyFromContainer(docker, containerId, path),
    buildImage: (request) => buildProjectImage(docker, builder, request, subnetPool),
    recreateContainer: (request) => recreateContainer(docker, request),
    layers: (imageId) => imageLayers(docker, imageId),
    imageUser: async (tag) => (await docker.getImage(tag).inspect()).Config.User ?? '',
    removeImages: (labels) => removeImages(docker, labels),
    removeBuildContainers: (instance) => removeBuildContainers(docker, instance),
  };
}

async function copyFromContainer(docker: Docker, containerId: string, path: string) {
  try {
    return await docker.getContainer(containerId).getArchive({ path });
  } catch (error) {
    // dockerode gives every 404 of this call the reason "no such container", so the engine's
    // message is what distinguishes a missing path.
    if (isNotFound(error) && /Could not find the file/i.test((error as Error).message))
      return undefined;
    throw error;
  }
}

/** Largest build context a Restart reads, in bytes; the web-build folder is capped below it. */
const CONTEXT_LIMIT = 64 * 1024 * 1024;

/**
 * Builds with the step builder under the session's limits, on the session's build network,
 * which reaches the internet only when the lab sets `projectBuild.egress`. The step builder stops the
 * build at its time limit and removes what a failed build made.
 */
async function buildProjectImage(
  docker: Docker,
  builder: StepBuilder,
  request: ProjectImageBuild,
  subnetPool: SubnetPool,
): Promise<ProjectImageBuildResult> {
  const instance = request.labels[LABELS.instance] ?? 'default';
  const sessionId = request.labels[LABELS.session] ?? 'none';
  const network = await ensureBuildNetwork(
    docker,
    instance,
    sessionId,
    request.egress ?? false,
    subnetPool,
  );
  // What earlier Restarts left counts against the session's disk quota; the image the web
  // container runs counts nothing, as this build replaces it.
  if (request.labels[LABELS.service]) await removeReplacedImages(docker, request.labels);
  const context = await readAll(request.context, CONTEXT_LIMIT);
  const dockerfile = (await readContext(context)).get('Dockerfile')?.data.toString('utf8');
  if (dockerfile === undefined) throw new Error('the build context has no Dockerfile');

  // Tags as the engine lists them, with :latest where none is written.
  const allowed = new Set(
    request.allowedImages.map((ref) => (/:[^/]*$/.test(ref) ? ref : `${ref}:latest`)),
  );
  const lines = new LineSplitter(request.onLine);
  const result = await builder.build({
    dockerfile,
    context,
    tags: [request.tag],
    showTag: (tag) => request.shownTag ?? tag,
    buildArgs: request.buildArgs,
    labels: request.labels,
    allowImage: (_ref, image) => (image.RepoTags ?? []).some((tag) => allowed.has(tag)),
    allowedImages: `$BASE_IMAGE, an earlier stage or one of: ${[...allowed].join(', ')}`,
    quiet: false,
    noCache: false,
    owner: { instance, sessionId, labId: request.labels[LABELS.lab] },
    limits: request.limits,
    network,
    onMessage: (message) => {
      if ('stream' in message) lines.add(message.stream);
      if ('error' in message) {
        lines.flush();
        request.onLine(message.error);
      }
    },
  });
  lines.flush();
  return result;
}

/** Maximum length of an output line a Restart passes on, in characters. A longer line is cut. */
export const MAX_LINE_CHARS = 4096;

/**
 * Passes the build's output on line by line, as the classic builder's stream was read. A line
 * longer than MAX_LINE_CHARS keeps its start and a mark, and the rest up to the next newline is
 * left out, so a step that prints one endless line costs no memory and no time beyond reading it.
 */
export class LineSplitter {
  private pending = '';
  /** Inside a line already cut: output is dropped up to the next newline. */
  private cutting = false;
  private readonly onLine: (line: string) => void;

  constructor(onLine: (line: string) => void) {
    this.onLine = onLine;
  }

  add(text: string): void {
    let start = 0;
    while (start < text.length) {
      const end = text.indexOf('\n', start);
      if (!this.cutting) {
        const piece = text.slice(start, end === -1 ? undefined : end);
        const room = MAX_LINE_CHARS - this.pending.length;
        if (piece.length > room) {
          this.emit(
            `${this.pending}${piece.slice(0, room)} [line cut: longer than ${MAX_LINE_CHARS} characters]`,
          );
          this.pending = '';
          this.cutting = true;
        } else {
          this.pending += piece;
        }
      }
      if (end === -1) return;
      if (!this.cutting) this.emit(this.pending);
      this.pending = '';
      this.cutting = false;
      start = end + 1;
    }
  }

  flush(): void {
    if (!this.cutting) this.emit(this.pending);
    this.pending = '';
    this.cutting = false;
  }

  private emit(line: string): void {
    if (line.trim()) this.onLine(line.trimEnd());
  }
}

/**
 * Removes the session's earlier Restart results that no tag names any more: the tag moved to a
 * later result, and the container that ran them is gone. One still in use (409) stays.
 */
async function removeReplacedImages(docker: Docker, labels: Record<string, string>): Promise<void> {
  const filters = JSON.stringify({
    dangling: ['true'],
    label: [
      `${LABELS.managed}=true`,
      `${LABELS.instance}=${labels[LABELS.instance] ?? ''}`,
      `${LABELS.session}=${labels[LABELS.session] ?? ''}`,
      `${LABELS.service}=${labels[LABELS.service] ?? ''}`,
    ],
  });
  for (const image of await docker.listImages({ filters })) {
    await docker
      .getImage(image.Id)
      .remove()
      .catch((error: unknown) => {
        const status = (error as { statusCode?: number }).statusCode;
        if (status !== 404 && status !== 409) throw error;
      });
  }
}

async function imageLayers(docker: Docker, imageId: string): Promise<ImageLayer[]> {
  const history: Array<{ CreatedBy: string; Size: number }> = await docker
    .getImage(imageId)
    .history();
  return history.map((entry) => ({ createdBy: entry.CreatedBy, sizeBytes: entry.Size }));
}

async function removeBuildContainers(docker: Docker, instance: string): Promise<number> {
  const filters = JSON.stringify({
    label: [`${LABELS.managed}=true`, `${LABELS.instance}=${instance}`, `${LABELS.kind}=build`],
  });
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(
    containers.map((container) =>
      ignoreGone(docker.getContainer(container.Id).remove({ force: true, v: true })),
    ),
  );
  return containers.length;
}

/**
 * Removes the images with every label, step images included, children before their parents: the
 * engine refuses to remove an image that another image builds on. An image a container of
 * someone else still uses (409) stays and is not counted.
 */
async function removeImages(docker: Docker, labels: Record<string, string>): Promise<number> {
  const filters = JSON.stringify({
    label: Object.entries(labels).map(([key, value]) => (value ? `${key}=${value}` : key)),
  });
  let images = await docker.listImages({ all: true, filters });
  if (images.length === 0) return 0;

  // A container made from a built image keeps it in use; remove such containers first.
  const ids = new Set(images.map((image) => image.Id));
  const containers = await docker.listContainers({
    all: true,
    filters: JSON.stringify({ label: [`${LABELS.managed}=true`] }),
  });
  const users = containers.filter((container) => ids.has(container.ImageID));
  await Promise.all(
    users.map((container) => ignoreGone(docker.getContainer(container.Id).remove({ force: true }))),
  );

  // The session's Docker proxy removes the learner's images at the same moment, so an image may
  // be busy for a moment: a round that removes nothing is tried again a few times.
  let removed = 0;
  let idleRounds = 0;
  for (let round = 0; round < 100 && images.length > 0 && idleRounds < 4; round += 1) {
    const parents = new Set(images.map((image) => image.ParentId));
    const leaves = images.filter((image) => !parents.has(image.Id));
    const results = await Promise.all(leaves.map((image) => removeImage(docker, image.Id)));
    removed += results.filter(Boolean).length;
    idleRounds = results.some(Boolean) ? 0 : idleRounds + 1;
    if (idleRounds > 0) await new Promise((resolve) => setTimeout(resolve, 500));
    images = await docker.listImages({ all: true, filters });
  }
  return removed;
}

/** Removes one image; true when it is gone, false when the engine keeps it in use (409). */
async function removeImage(docker: Docker, imageId: string): Promise<boolean> {
  try {
    await docker.getImage(imageId).remove({ force: true });
    return true;
  } catch (error) {
    if (isNotFound(error)) return true;
    if ((error as { statusCode?: number }).statusCode === 409) return false;
    throw error;
  }
}
