// The sandboxes behind sessions: created from a lab's services with the configured limits,
// warmed until their services are healthy and the router routes the projects, and started and
// removed for the pool of ready sandboxes.
import type { Config } from '../config.ts';
import { ImageMissingError } from '../errors.ts';
import { imageTag } from '../images/catalog.ts';
import type { Lab } from '../labs/schema.ts';
import type { Sandbox, SandboxRuntime } from '../sandbox/runtime.ts';
import { writeRoutes } from './routes.ts';
import type { PoolEvent } from './session.ts';
import { waitForHealthyServices, type StepContext } from './steps.ts';

/** How long an image found on the engine is trusted without asking again. */
const IMAGE_CHECK_MS = 60_000;

export class SessionSandboxes {
  private readonly config: Config;
  private readonly runtime: SandboxRuntime;
  private readonly stepContext: StepContext;
  private readonly poolListeners = new Set<(event: PoolEvent) => void>();
  /** When each image tag was last found on the engine, so a start does not inspect it again. */
  private readonly imagesSeen = new Map<string, number>();

  constructor(stepContext: StepContext) {
    this.config = stepContext.config;
    this.runtime = stepContext.runtime;
    this.stepContext = stepContext;
  }

  /** Calls the listener when a pooled sandbox starts, and when it leaves the pool unused. */
  onPoolSandbox(listener: (event: PoolEvent) => void): () => void {
    this.poolListeners.add(listener);
    return () => this.poolListeners.delete(listener);
  }

  async create(lab: Lab, id: string, expiresAt: number, pooled: boolean): Promise<Sandbox> {
    const services = await Promise.all(
      Object.entries(lab.services).map(async ([name, service]) => {
        const tag = imageTag(service.image);
        await this.requireImage(tag);
        return { name, imageTag: tag, ...service };
      }),
    );

    // NOTE: the expiry label keeps the first expiry, because an extension does not relabel the
    // containers. A reaper that trusts the label alone would end an extended session early.
    return this.runtime.createSandbox({
      instance: this.config.instance,
      sessionId: id,
      labId: lab.id,
      expiresAt,
      services,
      pooled,
      limits: {
        memoryBytes: this.config.containerMemoryMb * 1024 * 1024,
        nanoCpus: Math.round(this.config.containerCpus * 1e9),
        pids: this.config.containerPids,
        diskBytes: this.config.containerDiskMb * 1024 * 1024,
      },
    });
  }

  /**
   * Resolves once every service with a health check passes it and the lab's router, if it has
   * one, routes each project's host names: nginx must run before router-route can reload it.
   */
  async warm(lab: Lab, sandbox: Sandbox): Promise<void> {
    await waitForHealthyServices(this.stepContext, { sandbox }, lab);
    await writeRoutes(this.stepContext, sandbox, lab);
  }

  /**
   * Starts a sandbox for the pool. Its expiry label is the latest time it can live: unused, then
   * a whole session, because Docker cannot relabel it when a learner takes it.
   */
  async startPooled(lab: Lab, id: string): Promise<Sandbox> {
    const latestEnd =
      Date.now() + (this.config.poolIdleMinutes + this.config.sessionMaxMinutes) * 60_000;
    const sandbox = await this.create(lab, id, latestEnd, true);
    for (const listener of this.poolListeners) listener({ state: 'started', id, lab, sandbox });
    return sandbox;
  }

  async removePooled(id: string): Promise<void> {
    for (const listener of this.poolListeners) listener({ state: 'removed', id });
    await this.runtime.removeSandbox(this.config.instance, id);
  }

  /** Checks that an image exists, asking the engine at most once a minute per tag; starts in between reuse the result. */
  private async requireImage(tag: string): Promise<void> {
    if (Date.now() - (this.imagesSeen.get(tag) ?? -Infinity) < IMAGE_CHECK_MS) return;
    if (!(await this.runtime.imageExists(tag))) throw new ImageMissingError(tag);
    this.imagesSeen.set(tag, Date.now());
  }
}
