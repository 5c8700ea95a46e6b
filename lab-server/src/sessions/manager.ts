// Lab sessions: one per learner and lab, each with its own sandbox and an unguessable token.
// Docker labels are the truth about what runs; this map only adds the tokens and timers. The
// learner's progress lives in the state store, so it outlives the session and the server.
import { randomBytes, timingSafeEqual } from 'node:crypto';

import type { Config } from '../config.ts';
import { CapacityError, ImageMissingError, LabError, LabNotFoundError, SessionNotFoundError, UnauthorizedError } from '../errors.ts';
import { imageTag } from '../images/catalog.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { LabMetrics } from '../metrics/metrics.ts';
import type { RemovalCount, Sandbox, SandboxRuntime } from '../sandbox/runtime.ts';
import { SessionStore, tokenDigest, type StoredSession } from '../store/session-store.ts';
import { StateStore } from '../store/state-store.ts';
import { SandboxPool, type PoolCounts } from './pool.ts';
import { writeRoutes } from './routes.ts';
import { replayProgress, waitForHealthyServices, type StepContext } from './steps.ts';

export interface Session {
  id: string;
  labId: string;
  /** The anonymous learner who started it, from the learner cookie. */
  learnerId: string;
  token: string;
  createdAt: number;
  expiresAt: number;
  /** Extensions stop here. */
  maxExpiresAt: number;
  /** Last heartbeat of the lab page, and last heartbeat that reported a key press or click. */
  lastSeenAt: number;
  lastActiveAt: number;
  sandbox: Sandbox;
  /** Steps whose setup has run in this sandbox. */
  preparedSteps: Set<string>;
  /**
   * Settles when the services are healthy and the learner's progress is replayed. A terminal
   * may open before; checks wait for it.
   */
  ready?: Promise<void>;
}

/** A pooled sandbox that started, ready for shells, or that left the pool without a learner. */
export type PoolEvent = { state: 'started'; id: string; lab: Lab; sandbox: Sandbox } | { state: 'removed'; id: string };

export type SessionEndReason = 'stopped' | 'expired' | 'shutdown' | 'idle' | 'abandoned' | 'reset' | 'failed';

/** Raised when a learner already runs as many sessions as LAB_SESSIONS_PER_LEARNER allows and requests one more. */
export class LearnerLimitError extends LabError {
  constructor(limit: number, running: string[]) {
    super(
      'TooManyLabsRunning',
      409,
      `You already have ${limit === 1 ? 'a lab' : `${limit} labs`} running (${running.join(', ')}), the most allowed. ` +
        'Stop one on its page, then press Start here again.',
    );
  }
}

/** How often idle and abandoned sessions are looked for. */
const IDLE_SWEEP_MS = 10_000;
/** How long an image found on the engine is trusted without asking again. */
const IMAGE_CHECK_MS = 60_000;

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly endListeners = new Set<(sessionId: string, reason: SessionEndReason) => void>();
  private readonly startListeners = new Set<(session: Session, how: 'started' | 'adopted') => void>();
  /** Digests of the tokens pages held before a restart, by session id; those tokens still work. */
  private readonly earlierTokens = new Map<string, string[]>();
  private readonly idleSweep: NodeJS.Timeout;
  /** Sessions being started, by learner and lab, so that a double Start makes one session. */
  private readonly starting = new Map<string, Promise<Session>>();
  private pending = 0;
  private readonly pool: SandboxPool;
  private readonly poolListeners = new Set<(event: PoolEvent) => void>();
  /** When each image tag was last found on the engine, so a start does not inspect it again. */
  private readonly imagesSeen = new Map<string, number>();

  readonly config: Config;
  readonly store: StateStore;
  readonly sessionStore: SessionStore;
  /** Set by main.ts; tests without one count nothing. */
  metrics: LabMetrics | undefined;
  private readonly labs: Map<string, Lab>;
  private readonly runtime: SandboxRuntime;
  private readonly log: Logger;

  constructor(options: { config: Config; labs: Map<string, Lab>; runtime: SandboxRuntime; log: Logger; store?: StateStore }) {
    this.config = options.config;
    this.labs = options.labs;
    this.runtime = options.runtime;
    this.log = options.log;
    this.store = options.store ?? new StateStore(options.config.databasePath);
    this.sessionStore = new SessionStore(this.store.connection, options.config.instance);
    this.idleSweep = setInterval(() => this.endIdleSessions(), IDLE_SWEEP_MS).unref();
    this.pool = new SandboxPool({
      start: (labId, id) => this.startPooled(this.labs.get(labId)!, id),
      warm: (labId, sandbox) => this.warm(this.labs.get(labId)!, sandbox),
      remove: (id) => this.removePooled(id),
      hasRoom: () => this.hasRoom(),
      log: this.log,
      maxIdleMs: this.config.poolIdleMinutes * 60_000,
      concurrency: this.config.poolStarts,
    });
  }

  get size(): number {
    return this.sessions.size;
  }

  get stepContext(): StepContext {
    return { runtime: this.runtime, config: this.config, log: this.log };
  }

  /** Calls the listener when any session ends; returns the function that unsubscribes it. */
  onEnd(listener: (sessionId: string, reason: SessionEndReason) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** Calls the listener when a session starts, or is adopted after a restart. */
  onStart(listener: (session: Session, how: 'started' | 'adopted') => void): () => void {
    this.startListeners.add(listener);
    return () => this.startListeners.delete(listener);
  }

  /** Every running session, for the instructor's view. */
  list(): Session[] {
    return [...this.sessions.values()];
  }

  /** The running session with this id, without a token check: for instructor routes only. */
  get(sessionId: string): Session | undefined {
    return this.sessions.get(sessionId);
  }

  isRunning(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** Returns the learner's running session of a lab, if any. */
  findForLearner(learnerId: string, labId: string): Session | undefined {
    return [...this.sessions.values()].find((session) => session.learnerId === learnerId && session.labId === labId);
  }

  /**
   * Keeps `size` ready sandboxes of the lab, started in the background and counted against the
   * session limit; 0 empties its pool.
   */
  setPoolTarget(labId: string, size: number): void {
    if (!this.labs.has(labId)) throw new LabNotFoundError(labId);
    this.pool.setTarget(labId, size);
  }

  poolCounts(labId: string): PoolCounts {
    return this.pool.counts(labId);
  }

  /** Calls the listener when a pooled sandbox starts, and when it leaves the pool unused. */
  onPoolSandbox(listener: (event: PoolEvent) => void): () => void {
    this.poolListeners.add(listener);
    return () => this.poolListeners.delete(listener);
  }

  /** Resolves when the session's services are healthy and its progress is replayed. */
  async whenReady(session: Session): Promise<void> {
    await session.ready;
  }

  /**
   * Starts a session, or returns the learner's running one for the same lab. A new sandbox is
   * brought up to the learner's stored progress before the session is returned.
   */
  async create(labId: string, learnerId: string = randomBytes(16).toString('hex')): Promise<Session> {
    const lab = this.labs.get(labId);
    if (!lab) throw new LabNotFoundError(labId);

    const running = this.findForLearner(learnerId, labId);
    if (running) return running;

    const key = `${learnerId}/${labId}`;
    const started = this.starting.get(key) ?? this.startFresh(lab, learnerId);
    this.starting.set(key, started);
    try {
      return await started;
    } finally {
      this.starting.delete(key);
    }
  }

  private async startFresh(lab: Lab, learnerId: string): Promise<Session> {
    // A learner who takes a pooled sandbox needs no room: the pool's count covered it.
    if (!this.pool.has(lab.id) && !this.hasRoom() && !this.pool.evictOne()) {
      throw new CapacityError(this.config.maxSessions, 60);
    }
    const own = this.list().filter((session) => session.learnerId === learnerId);
    if (own.length >= this.config.sessionsPerLearner) {
      throw new LearnerLimitError(this.config.sessionsPerLearner, own.map((session) => this.labs.get(session.labId)?.title ?? session.labId));
    }

    this.pending += 1;
    try {
      const session = await this.startSandbox(lab, learnerId);
      // The terminal may open while slow services such as a database still start, unless the
      // learner's progress or the first step's setup needs them.
      if (this.store.passedSteps(learnerId, lab.id).length > 0 || lab.steps[0]?.setup) await session.ready;
      else session.ready?.catch(() => undefined);
      return session;
    } finally {
      this.pending -= 1;
    }
  }

  /**
   * Gives the learner a sandbox from the pool, or starts one. A pooled sandbox keeps the id its
   * containers are labelled with, because Docker cannot relabel a container. The session still
   * gets a fresh token and expiry.
   */
  private async startSandbox(lab: Lab, learnerId: string): Promise<Session> {
    const pooled = this.pool.take(lab.id);
    const id = pooled?.id ?? randomBytes(8).toString('hex');
    const createdAt = Date.now();
    const expiresAt = createdAt + this.config.sessionMinutes * 60_000;
    const maxExpiresAt = Math.max(expiresAt, createdAt + this.config.sessionMaxMinutes * 60_000);
    const sandbox = pooled?.sandbox ?? (await this.createSandbox(lab, id, expiresAt, false));

    const token = randomBytes(32).toString('base64url');
    const session: Session = {
      id,
      labId: lab.id,
      learnerId,
      token,
      createdAt,
      expiresAt,
      maxExpiresAt,
      lastSeenAt: createdAt,
      lastActiveAt: createdAt,
      sandbox,
      preparedSteps: new Set(),
    };
    this.sessions.set(id, session);
    this.sessionStore.save(session, token);
    this.scheduleExpiry(session);
    this.log.info({ sessionId: id, labId: lab.id, learnerId, expiresAt: new Date(expiresAt).toISOString() }, 'session started');
    for (const listener of this.startListeners) listener(session, 'started');
    session.ready = this.prepare(session, lab, pooled?.warmed ?? this.warm(lab, sandbox));
    return session;
  }

  /** Sessions, starts under way and the pool together stay under the session limit. */
  private hasRoom(): boolean {
    return this.sessions.size + this.pending + this.pool.size < this.config.maxSessions;
  }

  /**
   * Starts a sandbox for the pool. Its expiry label is the latest time it can live: unused, then
   * a whole session, because Docker cannot relabel it when a learner takes it.
   */
  private async startPooled(lab: Lab, id: string): Promise<Sandbox> {
    const latestEnd = Date.now() + (this.config.poolIdleMinutes + this.config.sessionMaxMinutes) * 60_000;
    const sandbox = await this.createSandbox(lab, id, latestEnd, true);
    for (const listener of this.poolListeners) listener({ state: 'started', id, lab, sandbox });
    return sandbox;
  }

  private async removePooled(id: string): Promise<void> {
    for (const listener of this.poolListeners) listener({ state: 'removed', id });
    await this.runtime.removeSandbox(this.config.instance, id);
  }

  private async createSandbox(lab: Lab, id: string, expiresAt: number, pooled: boolean): Promise<Sandbox> {
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

  /** Checks that an image exists, asking the engine at most once a minute per tag; starts in between reuse the answer. */
  private async requireImage(tag: string): Promise<void> {
    if (Date.now() - (this.imagesSeen.get(tag) ?? -Infinity) < IMAGE_CHECK_MS) return;
    if (!(await this.runtime.imageExists(tag))) throw new ImageMissingError(tag);
    this.imagesSeen.set(tag, Date.now());
  }

  /**
   * Resolves once every service with a health check passes it and the lab's router, if it has
   * one, routes each project's host names: nginx must run before router-route can reload it.
   */
  private async warm(lab: Lab, sandbox: Sandbox): Promise<void> {
    await waitForHealthyServices(this.stepContext, { sandbox }, lab);
    await writeRoutes(this.stepContext, sandbox, lab);
  }

  /** Waits for healthy services and replays the learner's progress; ends the session on failure. */
  private async prepare(session: Session, lab: Lab, warmed: Promise<void>): Promise<void> {
    try {
      await warmed;
      await replayProgress(this.stepContext, session, lab, this.store.passedSteps(session.learnerId, lab.id));
    } catch (error) {
      // A session that expired or was stopped while starting fails on its removed containers.
      if (!this.isRunning(session.id)) throw new SessionNotFoundError(session.id);

      this.log.error({ sessionId: session.id, labId: lab.id, err: error }, 'preparing the session failed');
      await this.end(session.id, 'failed');
      throw error;
    }
  }

  /** Returns the session if the token matches; throws 404 or 401 otherwise. */
  authorize(sessionId: string, token: string | undefined): Session {
    const session = this.sessions.get(sessionId);
    if (!session) throw new SessionNotFoundError(sessionId);
    if (!token) throw new UnauthorizedError();
    if (tokensEqual(token, session.token)) return session;

    const digest = tokenDigest(token);
    if ((this.earlierTokens.get(sessionId) ?? []).some((earlier) => tokensEqual(digest, earlier))) return session;
    throw new UnauthorizedError();
  }

  lab(session: Session): Lab {
    const lab = this.labs.get(session.labId);
    if (!lab) throw new LabNotFoundError(session.labId);
    return lab;
  }

  /** Adds the configured minutes to the session's expiry, up to its maximum. */
  extend(session: Session): Session {
    session.expiresAt = Math.min(session.maxExpiresAt, Math.max(session.expiresAt, Date.now()) + this.config.extendMinutes * 60_000);
    this.scheduleExpiry(session);
    this.sessionStore.updateExpiry(session.id, session.expiresAt);
    this.log.info({ sessionId: session.id, labId: session.labId, expiresAt: new Date(session.expiresAt).toISOString() }, 'session extended');
    return session;
  }

  /** Records that the lab page is open, and whether the learner pressed a key or clicked since. */
  heartbeat(session: Session, active: boolean): void {
    const now = Date.now();
    session.lastSeenAt = now;
    if (active) session.lastActiveAt = now;
  }

  /** Ends the session, clears the learner's progress in its lab and starts a fresh one. */
  async reset(session: Session): Promise<Session> {
    const lab = this.lab(session);
    await this.end(session.id, 'reset');
    this.store.forgetSteps(session.learnerId, lab.id, lab.steps.map((step) => step.id));
    return this.create(lab.id, session.learnerId);
  }

  private scheduleExpiry(session: Session): void {
    clearTimeout(this.timers.get(session.id));
    const delay = Math.max(0, session.expiresAt - Date.now());
    this.timers.set(session.id, setTimeout(() => void this.end(session.id, 'expired'), delay).unref());
  }

  private endIdleSessions(): void {
    const now = Date.now();
    for (const session of this.sessions.values()) {
      if (now - session.lastSeenAt > this.config.closedGraceSeconds * 1000) void this.end(session.id, 'abandoned');
      else if (now - session.lastActiveAt > this.config.idleMinutes * 60_000) void this.end(session.id, 'idle');
    }
  }

  async end(sessionId: string, reason: SessionEndReason): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (!session) return;

    this.sessions.delete(sessionId);
    this.sessionStore.remove(sessionId);
    this.earlierTokens.delete(sessionId);
    clearTimeout(this.timers.get(sessionId));
    this.timers.delete(sessionId);
    this.metrics?.sessionsEnded.inc({ reason });
    for (const listener of this.endListeners) listener(sessionId, reason);

    try {
      const removed = await this.runtime.removeSandbox(this.config.instance, sessionId);
      this.metrics?.countRemovals(removed, 'session');
      this.log.info({ sessionId, labId: session.labId, learnerId: session.learnerId, reason, ...removed }, 'session ended');
    } catch (error) {
      this.log.error({ sessionId, labId: session.labId, reason, err: error }, 'removing the sandbox failed');
    }
    this.pool.refill();
  }

  /**
   * Ends every session. On shutdown, the sessions that `keep` names are left running and stored,
   * so the next start gives them back to their learners.
   */
  async endAll(reason: SessionEndReason, options: { keep?: (session: Session) => boolean } = {}): Promise<void> {
    // The pool stops first, so the sessions ending below do not make it start replacements.
    if (reason === 'shutdown') await this.pool.dispose();
    const kept = this.list().filter((session) => this.canAdopt(this.lab(session)) && options.keep?.(session));
    for (const session of kept) {
      clearTimeout(this.timers.get(session.id));
      this.log.info({ sessionId: session.id, labId: session.labId, learnerId: session.learnerId }, 'session kept for the next start');
    }

    const ending = this.list().filter((session) => !kept.includes(session));
    await Promise.all(ending.map((session) => this.end(session.id, reason)));
    if (reason === 'shutdown') {
      clearInterval(this.idleSweep);
      this.store.close();
    }
  }

  /**
   * Gives back the sandboxes of the sessions an earlier run stored, found by their labels, and
   * removes every other resource of this instance. A session is given back when its lab still
   * exists, it has not expired, and every service's container is running. Pages that still have
   * the old token keep working, and a page that requests the session again gets a new token.
   */
  async adopt(): Promise<{ adopted: number; removed: RemovalCount }> {
    const keep = new Set<string>();
    for (const stored of this.sessionStore.list()) {
      const session = await this.adoptOne(stored);
      if (session) keep.add(session.id);
      else this.sessionStore.remove(stored.id);
    }

    const removed = await this.runtime.sweep(this.config.instance, keep);
    this.metrics?.countRemovals(removed, 'sweep');
    return { adopted: keep.size, removed };
  }

  /**
   * Whether a session of this lab can outlive the server. Labs whose services use `docker` cannot:
   * their Docker proxy lives in the server's process.
   */
  canAdopt(lab: Lab): boolean {
    return !Object.values(lab.services).some((service) => service.docker === true);
  }

  private async adoptOne(stored: StoredSession): Promise<Session | undefined> {
    const lab = this.labs.get(stored.labId);
    if (!lab || stored.expiresAt <= Date.now() || !this.canAdopt(lab) || !this.runtime.findSandbox) return undefined;

    const sandbox = await this.runtime.findSandbox(this.config.instance, stored.id);
    if (!sandbox || Object.keys(lab.services).some((name) => !sandbox.containers[name])) return undefined;
    if (!(await this.restoreRoutes(lab, sandbox))) return undefined;

    const now = Date.now();
    const token = randomBytes(32).toString('base64url');
    this.sessionStore.addToken(stored.id, token);
    this.earlierTokens.set(stored.id, stored.tokenDigests);
    const passed = this.store.passedSteps(stored.learnerId, lab.id);
    const session: Session = {
      id: stored.id,
      labId: lab.id,
      learnerId: stored.learnerId,
      token,
      createdAt: stored.createdAt,
      expiresAt: stored.expiresAt,
      maxExpiresAt: stored.maxExpiresAt,
      lastSeenAt: now,
      lastActiveAt: now,
      sandbox,
      preparedSteps: preparedSteps(lab, passed),
    };

    this.sessions.set(session.id, session);
    this.scheduleExpiry(session);
    this.log.info({ sessionId: session.id, labId: lab.id, learnerId: session.learnerId, expiresAt: new Date(session.expiresAt).toISOString() }, 'session adopted');
    for (const listener of this.startListeners) listener(session, 'adopted');
    return session;
  }

  /**
   * Writes the routes that an adopted sandbox's router lacks, because the server may have stopped
   * before it wrote them. The routes it has stay as the learner left them. False on failure.
   */
  private async restoreRoutes(lab: Lab, sandbox: Sandbox): Promise<boolean> {
    try {
      await writeRoutes(this.stepContext, sandbox, lab, { missingOnly: true });
      return true;
    } catch (error) {
      this.log.error({ sessionId: sandbox.sessionId, labId: lab.id, err: error }, 'restoring the routes of a stored session failed, so it is removed');
      return false;
    }
  }
}

/** The steps whose setup has run in a sandbox: every passed step and the first one not passed. */
function preparedSteps(lab: Lab, passed: readonly string[]): Set<string> {
  const prepared = new Set<string>();
  for (const step of lab.steps) {
    prepared.add(step.id);
    if (!passed.includes(step.id)) break;
  }
  return prepared;
}

function tokensEqual(candidate: string, expected: string): boolean {
  const a = Buffer.from(candidate);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
