// The containers of one build and its limits. Every step container is created with the build's
// labels and limits and tracked until it is removed. What the steps write counts against the
// session's disk quota, less what the session's images contain already, and the number of
// files a build may make.
import type Docker from 'dockerode';

import {
  createStepContainer,
  removeContainer,
  runStepContainer,
  type ImageConfig,
  type StepLimits,
} from './engine.ts';
import { BuildFailure, diskFailure, entriesFailure } from './messages.ts';

/**
 * Files and folders the RUN steps of one build may create or change in all. Empty files add no
 * bytes to the disk quota's count, but each takes an inode of the host's Docker filesystem.
 */
export const MAX_BUILD_ENTRIES = 100_000;

export interface StepContainerOptions {
  docker: Docker;
  labels: Record<string, string>;
  limits: StepLimits;
  /** Stops a running step; the build's time limit and the client's cancel both abort it. */
  signal: AbortSignal;
  /** Milliseconds between two checks of a running step's disk use. */
  pollMs: number;
  /** Whether the engine caps a container's writable layer, for the image the container runs. */
  storageQuota: (image: string, labels: Record<string, string>) => Promise<boolean>;
  /** Files and folders the build's RUN steps may create or change; MAX_BUILD_ENTRIES by default. */
  maxEntries?: number;
}

export class StepContainers {
  private readonly options: StepContainerOptions;
  private readonly containers = new Set<Docker.Container>();
  private addedBytes = 0;
  private heldBytes = 0;
  private addedEntries = 0;

  constructor(options: StepContainerOptions) {
    this.options = options;
  }

  /** Bytes the build may still add before the session passes its disk quota. */
  get roomBytes(): number {
    return this.options.limits.diskBytes - this.heldBytes - this.addedBytes;
  }

  /** Counts what the session's images hold already against the quota. */
  hold(bytes: number): void {
    this.heldBytes = bytes;
  }

  async create(
    image: string,
    cmd: string[],
    config: ImageConfig,
    entrypoint: string[] | undefined,
    network: string,
  ): Promise<Docker.Container> {
    const { docker, labels, limits } = this.options;
    const storageQuota = await this.options.storageQuota(image, labels);
    const container = await createStepContainer(docker, {
      image,
      config,
      cmd,
      entrypoint,
      labels,
      limits,
      network,
      storageQuota,
    });
    this.containers.add(container);
    return container;
  }

  /** Runs a RUN step's container; fails the build on a non-zero exit, the disk quota or a stop. */
  async run(
    container: Docker.Container,
    commandText: string,
    onOutput: (text: string) => void,
  ): Promise<void> {
    const outcome = await runStepContainer(this.options.docker, container, {
      onOutput,
      signal: this.options.signal,
      diskBytes: this.roomBytes,
      pollMs: this.options.pollMs,
    });
    if ('stopped' in outcome) {
      if (outcome.stopped === 'disk') throw this.diskFailure(`The command '${commandText}'`);
      throw new BuildFailure('the build was stopped');
    }
    if (outcome.exitCode !== 0)
      throw new BuildFailure(
        `The command '${commandText}' returned a non-zero code: ${outcome.exitCode}`,
        outcome.exitCode,
      );
    await this.countEntries(container, `The command '${commandText}'`);
  }

  /** Counts the files and folders the step created or changed; past the limit the build fails. */
  private async countEntries(container: Docker.Container, what: string): Promise<void> {
    const changes = (await container.changes()) as unknown[] | null;
    this.addedEntries += changes?.length ?? 0;
    const limit = this.options.maxEntries ?? MAX_BUILD_ENTRIES;
    if (this.addedEntries > limit) throw entriesFailure(what, limit);
  }

  /** Removes a container of this build once; later calls for it do nothing. */
  async remove(container: Docker.Container): Promise<void> {
    if (!this.containers.has(container)) return;
    await removeContainer(container);
    this.containers.delete(container);
  }

  /** Removes every container still left, ignoring failures, when the build ends. */
  async removeAll(): Promise<void> {
    await Promise.all(
      [...this.containers].map((container) => removeContainer(container).catch(() => undefined)),
    );
  }

  diskFailure(what: string): BuildFailure {
    return diskFailure(what, {
      quotaBytes: this.options.limits.diskBytes,
      heldBytes: this.heldBytes,
    });
  }

  /** Fails the step when it would write more than the build has left of its quota. */
  checkRoom(bytes: number): void {
    if (bytes > this.roomBytes) throw this.diskFailure('This step');
  }

  /** Counts bytes the build added; past the quota the build fails. */
  charge(bytes: number): void {
    this.addedBytes += bytes;
    if (this.roomBytes < 0) throw this.diskFailure('This step');
  }
}
