// Lab sessions: one per learner and lab, each with its own sandbox and an unguessable token.
// Docker labels are the truth about what runs; this map only adds the tokens and timers. The
// learner's progress lives in the state store, so it outlives the session and the server.
import { randomBytes } from 'node:crypto';

import type { Config } from '../config.ts';
import {
  CapacityError,
  LabNotFoundError,
  SessionNotFoundError,
  UnauthorizedError,
} from '../errors.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { LabMetrics } from '../metrics/metrics.ts';
import type { RemovalCount, SandboxRuntime } from '../sandbox/runtime.ts';
import { SessionStore } from '../store/session-store.ts';
import { StateStore } from '../store/state-store.ts';
import { adoptAll, canAdopt } from './adoption.ts';
import { SandboxPool, type PoolCounts } from './pool.ts';
import { SessionSandboxes } from './sandboxes.ts';
import {
  LearnerLimitError,
  newSession,
  tokenMatches,
  type PoolEvent,
  type Session,
  type SessionEndReason,
} from './session.ts';
import { replayProgress, type StepContext } from './steps.ts';
import { SessionTimers } from './timers.ts';

export {
  LearnerLimitError,
  type PoolEvent,
  type Session,
  type SessionEndReason,
} from './session.ts';

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly timers: SessionTimers;
  private readonly endListeners = new Set<(sessionId: string, reason: SessionEndReason) => void>();
  private readonly startListeners = new Set<
    (session: Session, how: 'started' | 'adopted') => void
  >();
  /** Digests of the tokens pages held before a restart, by session id; those tokens still work. */
  private readonly earlierTokens = new Map<string, string[]>();
  /** Sessions being started, by learner and lab, so that a double Start makes one session. */
  private readonly starting = new Map<string, Promise<Session>>();
  private pending = 0;
  private readonly pool: SandboxPool;
  private readonly sandboxes: SessionSandboxes;

  readonly config: Config;
  readonly store: StateStore;
  readonly sessionStore: SessionStore;
  /** Set by main.ts; tests without one count nothing. */
  metrics: LabMetrics | undefined;
  private readonly labs: Map<string, Lab>;
  private readonly runtime: SandboxRuntime;
  private readonly log: Logger;

  constructor(options: {
    config: Config;
    labs: Map<string, Lab>;
    runtime: SandboxRuntime;
    log: Logger;
    store?: StateStore;
  }) {
    this.config = options.config;
    this.labs = options.labs;
    this.runtime = options.runtime;
    this.log = options.log;
    this.store = options.store ?? new StateStore(options.config.databasePath);
    this.sessionStore = new SessionStore(this.store.connection, options.config.instance);
    this.timers = new SessionTimers({
      config: this.config,
      sessions: () => this.sessions.values(),
      end: (id, reason) => this.end(id, reason),
    });
    this.sandboxes = new SessionSandboxes(this.stepContext);
    this.pool = new SandboxPool({
      start: (labId, id) => this.sandboxes.startPooled(this.labs.get(labId)!, id),
      warm: (labId, sandbox) => this.sandboxes.warm(this.labs.get(labId)!, sandbox),
      remove: (id) => this.sandboxes.removePooled(id),
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
    return [...this.sessions.values()].find(
      (session) => session.learnerId === learnerId && session.labId === labId,
    );
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
    return this.sandboxes.onPoolSandbox(listener);
  }

  /** Resolves when the session's services are healthy and its progress is replayed. */
  async whenReady(session: Session): Promise<void> {
    await session.ready;
  }

  /**
   * Starts a session, or returns the learner's running one for the same lab. A new sandbox is
   * brought up to the learner's stored progress before the session is returned.
   */
  async create(
    labId: string,
    learnerId: string = randomBytes(16).toString('hex'),
  ): Promise<Session> {
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
      throw new LearnerLimitError(
        this.config.sessionsPerLearner,
        own.map((session) => this.labs.get(session.labId)?.title ?? session.labId),
      );
    }

    this.pending += 1;
    try {
      const session = await this.startSandbox(lab, learnerId);
      // The terminal may open while slow services such as a database still start, unless the
      // learner's progress or the first step's setup needs them.
      if (this.store.passedSteps(learnerId, lab.id).length > 0 || lab.steps[0]?.setup)
        await session.ready;
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
    const sandbox = pooled?.sandbox ?? (await this.sandboxes.create(lab, id, expiresAt, false));

    const session = newSession({
      id,
      labId: lab.id,
      learnerId,
      createdAt,
      expiresAt,
      maxExpiresAt,
      sandbox,
    });
    this.sessions.set(id, session);
    this.sessionStore.save(session, session.token);
    this.timers.scheduleExpiry(session);
    this.log.info(
      { sessionId: id, labId: lab.id, learnerId, expiresAt: new Date(expiresAt).toISOString() },
      'session started',
    );
    for (const listener of this.startListeners) listener(session, 'started');
    session.ready = this.prepare(session, lab, pooled?.warmed ?? this.sandboxes.warm(lab, sandbox));
    return session;
  }

  /** Sessions, starts under way and the pool together stay under the session limit. */
  private hasRoom(): boolean {
    return this.sessions.size + this.pending + this.pool.size < this.config.maxSessions;
  }

  /** Waits for healthy services and replays the learner's progress; ends the session on failure. */
  private async prepare(session: Session, lab: Lab, warmed: Promise<void>): Promise<void> {
    try {
      await warmed;
      await replayProgress(
        this.stepContext,
        session,
        lab,
        this.store.passedSteps(session.learnerId, lab.id),
      );
    } catch (error) {
      // A session that expired or was stopped while starting fails on its removed containers.
      if (!this.isRunning(session.id)) throw new SessionNotFoundError(session.id);

      this.log.error(
        { sessionId: session.id, labId: lab.id, err: error },
        'preparing the session failed',
      );
      await this.end(session.id, 'failed');
      throw error;
    }
  }

  /** Returns the session if the token matches; throws 404 or 401 otherwise. */
  authorize(sessionId: string, token: string | undefined): Session {
    const session = this.sessions.get(sessionId);
    if (!session) throw new SessionNotFoundError(sessionId);
    if (!token) throw new UnauthorizedError();
    if (tokenMatches(token, session, this.earlierTokens.get(sessionId) ?? [])) return session;
    throw new UnauthorizedError();
  }

  lab(session: Session): Lab {
    const lab = this.labs.get(session.labId);
    if (!lab) throw new LabNotFoundError(session.labId);
    return lab;
  }

  /** Adds the configured minutes to the session's expiry, up to its maximum. */
  extend(session: Session): Session {
    session.expiresAt = Math.min(
      session.maxExpiresAt,
      Math.max(session.expiresAt, Date.now()) + this.config.extendMinutes * 60_000,
    );
    this.timers.scheduleExpiry(session);
    this.sessionStore.updateExpiry(session.id, session.expiresAt);
    this.log.info(
      {
        sessionId: session.id,
        labId: session.labId,
        expiresAt: new Date(session.expiresAt).toISOString(),
      },
      'session extended',
    );
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
    this.store.forgetSteps(
      session.learnerId,
      lab.id,
      lab.steps.map((step) => step.id),
    );
    return this.create(lab.id, session.learnerId);
  }

  async end(sessionId: string, reason: SessionEndReason): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (!session) return;

    this.sessions.delete(sessionId);
    this.sessionStore.remove(sessionId);
    this.earlierTokens.delete(sessionId);
    this.timers.cancelExpiry(sessionId);
    this.metrics?.sessionsEnded.inc({ reason });
    for (const listener of this.endListeners) listener(sessionId, reason);

    try {
      const removed = await this.runtime.removeSandbox(this.config.instance, sessionId);
      this.metrics?.countRemovals(removed, 'session');
      this.log.info(
        { sessionId, labId: session.labId, learnerId: session.learnerId, reason, ...removed },
        'session ended',
      );
    } catch (error) {
      this.log.error(
        { sessionId, labId: session.labId, reason, err: error },
        'removing the sandbox failed',
      );
    }
    this.pool.refill();
  }

  /**
   * Ends every session. On shutdown, the sessions that `keep` names are left running and stored,
   * so the next start gives them back to their learners.
   */
  async endAll(
    reason: SessionEndReason,
    options: { keep?: (session: Session) => boolean } = {},
  ): Promise<void> {
    // The pool stops first, so the sessions ending below do not make it start replacements.
    if (reason === 'shutdown') await this.pool.dispose();
    const kept = this.list().filter(
      (session) => this.canAdopt(this.lab(session)) && options.keep?.(session),
    );
    for (const session of kept) {
      this.timers.cancelExpiry(session.id);
      this.log.info(
        { sessionId: session.id, labId: session.labId, learnerId: session.learnerId },
        'session kept for the next start',
      );
    }

    const ending = this.list().filter((session) => !kept.includes(session));
    await Promise.all(ending.map((session) => this.end(session.id, reason)));
    if (reason === 'shutdown') {
      this.timers.stopIdleSweep();
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
    const context = {
      ...this.stepContext,
      labs: this.labs,
      store: this.store,
      sessionStore: this.sessionStore,
    };
    const result = await adoptAll(context, (session, earlierDigests) =>
      this.registerAdopted(session, earlierDigests),
    );
    this.metrics?.countRemovals(result.removed, 'sweep');
    return result;
  }

  /** Returns whether a session of this lab can outlive the server: not when a service uses `docker`. */
  canAdopt(lab: Lab): boolean {
    return canAdopt(lab);
  }

  /** Adds an adopted session to the running ones, with its expiry timer and the tokens its pages held before. */
  private registerAdopted(session: Session, earlierDigests: string[]): void {
    this.earlierTokens.set(session.id, earlierDigests);
    this.sessions.set(session.id, session);
    this.timers.scheduleExpiry(session);
    this.log.info(
      {
        sessionId: session.id,
        labId: session.labId,
        learnerId: session.learnerId,
        expiresAt: new Date(session.expiresAt).toISOString(),
      },
      'session adopted',
    );
    for (const listener of this.startListeners) listener(session, 'adopted');
  }
}
