// Image operations on the Docker Engine: inspect, build, history and import. The images module
// calls these through ImageEngine, so it never touches dockerode itself.
import type Docker from 'dockerode';

import { ImageBuildError } from '../errors.ts';
import { assertDockerReachable, createDockerClient } from './docker-client.ts';
import { LABELS, managedLabels } from './labels.ts';
import { ensureDebianSlim } from './image-debian-base.ts';
import { followJsonStream, inspectImage } from './image-stream.ts';
import type { ImageSummary } from './image-stream.ts';
import type { DebianBaseResult } from './image-debian-base.ts';

export type { ImageSummary };

export interface HistoryEntry {
  id: string;
  createdBy: string;
  /** Seconds since the epoch, as Docker reports it. */
  created: number;
  sizeBytes: number;
}

export interface BuildRequest {
  tag: string;
  /** A tar stream of the build context. */
  context: NodeJS.ReadableStream;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  /** Build every step again instead of reusing cached layers. */
  noCache: boolean;
  onLine: (line: string) => void;
}

export interface ImageEngine {
  ping(): Promise<void>;
  inspect(tag: string): Promise<ImageSummary | undefined>;
  history(tag: string): Promise<HistoryEntry[]>;
  build(request: BuildRequest): Promise<string>;
  /** Removes untagged ddev-lab images that no container uses; returns the bytes freed. */
  pruneDangling(): Promise<number>;
  ensureDebianSlim(release: string, onProgress: (line: string) => void): Promise<DebianBaseResult>;
}

/** Opens an ImageEngine on the local engine, or the one DOCKER_HOST names. */
export function openImageEngine(docker: Docker = createDockerClient()): ImageEngine {
  return {
    ping: () => assertDockerReachable(docker),
    inspect: (tag) => inspectImage(docker, tag),
    history: (tag) => imageHistory(docker, tag),
    build: (request) => buildImage(docker, request),
    pruneDangling: () => pruneDangling(docker),
    ensureDebianSlim: (release, onProgress) => ensureDebianSlim(docker, release, onProgress),
  };
}

async function imageHistory(docker: Docker, tag: string): Promise<HistoryEntry[]> {
  const entries: Array<{ Id: string; CreatedBy: string; Created: number; Size: number }> =
    await docker.getImage(tag).history();

  return entries.map((entry) => ({
    id: entry.Id,
    createdBy: entry.CreatedBy,
    created: entry.Created,
    sizeBytes: entry.Size,
  }));
}

/** Builds an image with the classic builder, streaming its output; returns the image id. */
async function buildImage(docker: Docker, request: BuildRequest): Promise<string> {
  const stream = await docker.buildImage(request.context, {
    t: request.tag,
    buildargs: request.buildArgs,
    labels: request.labels,
    rm: true,
    forcerm: true,
    pull: false,
    nocache: request.noCache,
  });

  const messages = await followJsonStream(stream, request.onLine);
  const failure = messages.find((message) => message.error);
  if (failure) {
    throw new ImageBuildError(request.tag, String(failure.error).trim());
  }

  const built = await inspectImage(docker, request.tag);
  if (!built)
    throw new ImageBuildError(request.tag, 'the engine reported no image after the build');

  return built.id;
}

/**
 * Removes the images a rebuild left untagged, found by the managed image labels. The engine
 * skips any image a container still uses.
 */
async function pruneDangling(docker: Docker): Promise<number> {
  const labels = managedLabels({ kind: 'image' });
  const result = await docker.pruneImages({
    filters: {
      dangling: ['true'],
      label: [
        `${LABELS.managed}=${labels[LABELS.managed]}`,
        `${LABELS.kind}=${labels[LABELS.kind]}`,
      ],
    },
  });

  return result.SpaceReclaimed ?? 0;
}
