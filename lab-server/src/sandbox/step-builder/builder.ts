// The step builder: runs a checked Dockerfile one instruction at a time, as the classic builder
// does inside the engine, but with containers the lab server creates itself. Each RUN gets the
// sandboxes' hardening (no capability beyond what package installs need, no new privileges,
// the default seccomp profile, pids, memory, CPU, open-file and disk limits, capped logs) and
// the session's labels, which the engine's build API cannot give. The output is the classic
// builder's JSON message stream, in its words, so the docker CLI and the Restart panel read it
// as before.
import type Docker from 'dockerode';

import { createDockerClient } from '../docker-client.ts';
import { BuildRun } from './build-run.ts';
import { probeStorageQuota, type StepLimits } from './engine.ts';
import type { ImageAccess } from './image-access.ts';
import { LayerCache } from './layer-cache.ts';
import type { BuildMessage } from './messages.ts';

export type { BuildMessage } from './messages.ts';

/**
 * A build. Whatever image FROM or COPY --from names, the builder opens it only when allowImage
 * allows it: the caller's checks of the Dockerfile come first, this is the last word.
 */
export interface StepBuildRequest extends ImageAccess {
  /** The checked Dockerfile. */
  dockerfile: string;
  /** The build context as a plain tar archive. */
  context: Buffer;
  /** Engine references to tag the result with. */
  tags: string[];
  /** Display form of a tag for `Successfully tagged`; the engine reference by default. */
  showTag?: (tag: string) => string;
  buildArgs: Record<string, string>;
  /** Labels for the result, one LABEL step each at the end, as the classic builder's `labels` option. */
  labels: Record<string, string>;
  quiet: boolean;
  noCache: boolean;
  owner: { instance: string; sessionId: string; labId?: string };
  limits: StepLimits & { timeoutSeconds: number };
  /** `none`, or the network RUN steps join. */
  network: string;
  onMessage: (message: BuildMessage) => void;
  /** Aborts the build, for a client that went away. */
  signal?: AbortSignal;
}

export type StepBuildResult =
  | { ok: true; imageId: string }
  | { ok: false; timedOut: boolean; detail: string; step?: { number: number; text: string } };

export class StepBuilder {
  private readonly docker: Docker;
  private readonly pollMs: number;
  /** Step images by session and cache key, for ` ---> Using cache`; shared by every build. */
  private readonly cache = new LayerCache();
  private storageQuota: Promise<boolean> | undefined;

  constructor(docker: Docker = createDockerClient(), options: { pollMs?: number } = {}) {
    this.docker = docker;
    this.pollMs = options.pollMs ?? 1000;
  }

  async build(request: StepBuildRequest): Promise<StepBuildResult> {
    const run = new BuildRun(this, request);
    return run.execute();
  }

  /** @internal */
  get engine(): Docker {
    return this.docker;
  }

  /** @internal */
  get interval(): number {
    return this.pollMs;
  }

  /** @internal */
  get layers(): LayerCache {
    return this.cache;
  }

  /** @internal Whether the engine caps a container's writable layer; probed once. */
  quota(image: string, labels: Record<string, string>): Promise<boolean> {
    this.storageQuota ??= probeStorageQuota(this.docker, image, labels);
    return this.storageQuota;
  }
}

export function openStepBuilder(docker?: Docker): StepBuilder {
  return new StepBuilder(docker);
}
