// A pool of ready sandboxes per lab, so that Start hands a learner running containers instead of
// waiting for Docker to create them. The session manager owns the pool and gives it the means to
// start, warm and remove sandboxes; the pool decides when. Pooled sandboxes count against the
// server's session limit, refill in the background after each take, and are replaced when they
// sit unused too long.
import { randomBytes } from 'node:crypto';

import { InvalidRequestError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Sandbox } from '../sandbox/runtime.ts';

export interface PooledSandbox {
  /** The id the sandbox's resources are labelled with; the learner's session takes it over. */
  id: string;
  labId: string;
  sandbox: Sandbox;
  /** Settles when the sandbox's services are healthy; rejects when they never are. */
  warmed: Promise<void>;
  /** True once `warmed` has resolved. */
  isWarm: boolean;
  /** Epoch milliseconds after which an unused sandbox is replaced. */
  expiresAt: number;
}

export interface PoolDeps {
  /** Starts the containers of a lab under the given id, labelled as pooled. */
  start(labId: string, id: string): Promise<Sandbox>;
  /** Resolves once the sandbox's services are healthy. */
  warm(labId: string, sandbox: Sandbox): Promise<void>;
  /** Removes a sandbox that no learner took; what is already gone counts as removed. */
  remove(id: string): Promise<void>;
  /** True while one more sandbox fits under the server's session limit. */
  hasRoom(): boolean;
  log: Logger;
  /** Milliseconds an unused sandbox is kept before it is replaced by a fresh one. */
  maxIdleMs: number;
  /** Sandboxes started at once while filling, across every lab. */
  concurrency: number;
}

export interface PoolCounts {
  target: number;
  ready: number;
  starting: number;
}

/** How often expired sandboxes are looked for. */
const EXPIRY_SWEEP_MS = 15_000;
/** A lab whose sandbox failed to start is not tried again for this long. */
const RETRY_AFTER_FAILURE_MS = 10_000;

export class SandboxPool {
  private readonly targets = new Map<string, number>();
  private readonly idle = new Map<string, PooledSandbox[]>();
  private readonly starting = new Map<string, number>();
  private readonly failedAt = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly expiryTimer: NodeJS.Timeout;
  private fillQueued = false;
  private stopped = false;

  private readonly deps: PoolDeps;

  constructor(deps: PoolDeps) {
    this.deps = deps;
    this.expiryTimer = setInterval(() => this.replaceExpired(), EXPIRY_SWEEP_MS).unref();
  }

  /** Sandboxes in the pool, ready or starting; they count against the session limit. */
  get size(): number {
    let total = 0;
    for (const entries of this.idle.values()) total += entries.length;
    for (const count of this.starting.values()) total += count;
    return total;
  }

  counts(labId: string): PoolCounts {
    return {
      target: this.targets.get(labId) ?? 0,
      ready: this.idle.get(labId)?.length ?? 0,
      starting: this.starting.get(labId) ?? 0,
    };
  }

  /** True when the pool has a sandbox of the lab for take() to hand out. */
  has(labId: string): boolean {
    return (this.idle.get(labId)?.length ?? 0) > 0;
  }

  /** Keeps `size` sandboxes of the lab ready; 0 empties its pool. Extra sandboxes go at once. */
  setTarget(labId: string, size: number): void {
    if (!Number.isInteger(size) || size < 0) {
      throw new InvalidRequestError(
        `Pool size ${size} for lab "${labId}" is not a whole number. Use 0 or more.`,
      );
    }
    if (size === 0) this.targets.delete(labId);
    else this.targets.set(labId, size);
    this.failedAt.delete(labId);

    const entries = this.idle.get(labId) ?? [];
    const excess = entries.length - size;
    if (excess > 0) {
      for (const entry of entries.splice(0, excess)) this.discard(entry, 'target lowered');
    }
    this.deps.log.info({ labId, poolTarget: size }, 'pool target set');
    this.scheduleFill();
  }

  /**
   * Hands out a sandbox of the lab, the oldest warm one first, else the oldest still warming;
   * undefined when the pool has none. The pool starts a replacement in the background.
   */
  take(labId: string): PooledSandbox | undefined {
    const entries = this.idle.get(labId);
    if (!entries || entries.length === 0) return undefined;

    const warm = entries.findIndex((entry) => entry.isWarm);
    const [entry] = entries.splice(warm === -1 ? 0 : warm, 1);
    this.scheduleFill();
    return entry;
  }

  /**
   * Removes one unused sandbox to make room for a learner of a lab the pool cannot serve, from
   * the lab with the most. Returns false when the pool has none.
   */
  evictOne(): boolean {
    const fullest = [...this.idle.values()]
      .filter((entries) => entries.length > 0)
      .sort((a, b) => b.length - a.length)[0];
    const entry = fullest?.shift();
    if (!entry) return false;

    this.discard(entry, 'room for a learner');
    return true;
  }

  /** Tries to fill again, for example after a session ended and freed room. */
  refill(): void {
    this.scheduleFill();
  }

  /** Stops filling and removes every unused sandbox, waiting for those still starting. */
  async dispose(): Promise<void> {
    this.stopped = true;
    clearInterval(this.expiryTimer);
    const entries = [...this.idle.values()].flat();
    this.idle.clear();

    await Promise.all(entries.map((entry) => this.removeQuietly(entry.id)));
    // A start that finishes now discards its sandbox, which adds a removal to wait for.
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private scheduleFill(): void {
    if (this.fillQueued || this.stopped) return;
    this.fillQueued = true;
    // Deferred, so a take and the session registration that follows it settle the count first.
    setImmediate(() => {
      this.fillQueued = false;
      this.fill();
    });
  }

  private fill(): void {
    for (const labId of this.targets.keys()) {
      while (
        this.wants(labId) &&
        this.startingTotal() < this.deps.concurrency &&
        this.deps.hasRoom()
      ) {
        this.startOne(labId);
      }
    }
  }

  private wants(labId: string): boolean {
    const counts = this.counts(labId);
    const failed = this.failedAt.get(labId) ?? -Infinity;
    return (
      !this.stopped &&
      counts.ready + counts.starting < counts.target &&
      Date.now() - failed > RETRY_AFTER_FAILURE_MS
    );
  }

  private startingTotal(): number {
    let total = 0;
    for (const count of this.starting.values()) total += count;
    return total;
  }

  private startOne(labId: string): void {
    this.starting.set(labId, (this.starting.get(labId) ?? 0) + 1);
    const job = this.create(labId).finally(() => {
      this.starting.set(labId, (this.starting.get(labId) ?? 1) - 1);
      this.inFlight.delete(job);
      this.scheduleFill();
    });
    this.inFlight.add(job);
  }

  private async create(labId: string): Promise<void> {
    const id = randomBytes(8).toString('hex');
    const startedAt = Date.now();

    let sandbox: Sandbox;
    try {
      sandbox = await this.deps.start(labId, id);
    } catch (error) {
      this.failedAt.set(labId, Date.now());
      this.deps.log.error(
        { labId, poolId: id, err: error },
        'starting a pooled sandbox failed; the pool tries the lab again after 10 s or more',
      );
      await this.removeQuietly(id);
      return;
    }

    const entry: PooledSandbox = {
      id,
      labId,
      sandbox,
      warmed: Promise.resolve(),
      isWarm: false,
      expiresAt: Date.now() + this.deps.maxIdleMs,
    };
    entry.warmed = this.deps.warm(labId, sandbox).then(() => {
      entry.isWarm = true;
    });
    entry.warmed.catch((error: unknown) => this.dropUnhealthy(entry, error));

    if (this.stopped || !this.targets.has(labId)) {
      this.discard(entry, this.stopped ? 'pool stopped' : 'target lowered');
      return;
    }
    this.idle.set(labId, [...(this.idle.get(labId) ?? []), entry]);
    this.deps.log.info({ labId, poolId: id, ms: Date.now() - startedAt }, 'pooled sandbox started');
  }

  /** Removes a sandbox that failed to warm (a health check or a route), unless a learner took it already. */
  private dropUnhealthy(entry: PooledSandbox, error: unknown): void {
    const entries = this.idle.get(entry.labId) ?? [];
    const index = entries.indexOf(entry);
    if (index === -1) return;

    entries.splice(index, 1);
    this.failedAt.set(entry.labId, Date.now());
    this.deps.log.error(
      { labId: entry.labId, poolId: entry.id, err: error },
      'pooled sandbox failed to warm: a health check or a router route failed',
    );
    this.discard(entry, 'unhealthy');
  }

  /** Removes sandboxes left unused past their expiry; the fill that follows replaces them. */
  private replaceExpired(): void {
    const now = Date.now();
    for (const entries of this.idle.values()) {
      const expired = entries.filter((entry) => entry.expiresAt <= now);
      for (const entry of expired) {
        entries.splice(entries.indexOf(entry), 1);
        this.discard(entry, 'unused too long');
      }
    }
    this.scheduleFill();
  }

  private discard(entry: PooledSandbox, reason: string): void {
    this.deps.log.info({ labId: entry.labId, poolId: entry.id, reason }, 'pooled sandbox removed');
    const job = this.removeQuietly(entry.id).finally(() => this.inFlight.delete(job));
    this.inFlight.add(job);
  }

  private async removeQuietly(id: string): Promise<void> {
    try {
      await this.deps.remove(id);
    } catch (error) {
      this.deps.log.error({ poolId: id, err: error }, 'removing a pooled sandbox failed');
    }
  }
}
