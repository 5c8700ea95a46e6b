// Lab sessions: one per learner and lab, each with its own sandbox and an unguessable token.
// Docker labels are the truth about what runs; this map only adds the tokens and timers.
import { randomBytes, timingSafeEqual } from 'node:crypto';

import type { Config } from '../config.ts';
import { CapacityError, ImageMissingError, LabNotFoundError, SessionNotFoundError, UnauthorizedError } from '../errors.ts';
import { imageTag } from '../images/catalog.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { Sandbox, SandboxRuntime } from '../sandbox/runtime.ts';

export interface Session {
  id: string;
  labId: string;
  token: string;
  createdAt: number;
  expiresAt: number;
  sandbox: Sandbox;
}

export type SessionEndReason = 'stopped' | 'expired' | 'shutdown';

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly endListeners = new Set<(sessionId: string, reason: SessionEndReason) => void>();
  private pending = 0;

  private readonly config: Config;
  private readonly labs: Map<string, Lab>;
  private readonly runtime: SandboxRuntime;
  private readonly log: Logger;

  constructor(options: { config: Config; labs: Map<string, Lab>; runtime: SandboxRuntime; log: Logger }) {
    this.config = options.config;
    this.labs = options.labs;
    this.runtime = options.runtime;
    this.log = options.log;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Calls the listener when any session ends; returns the function that unsubscribes it. */
  onEnd(listener: (sessionId: string, reason: SessionEndReason) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  async create(labId: string): Promise<Session> {
    const lab = this.labs.get(labId);
    if (!lab) throw new LabNotFoundError(labId);

    if (this.sessions.size + this.pending >= this.config.maxSessions) {
      throw new CapacityError(this.config.maxSessions, 60);
    }

    this.pending += 1;
    try {
      return await this.startSandbox(lab);
    } finally {
      this.pending -= 1;
    }
  }

  private async startSandbox(lab: Lab): Promise<Session> {
    const id = randomBytes(8).toString('hex');
    const createdAt = Date.now();
    const expiresAt = createdAt + this.config.sessionMinutes * 60_000;

    const services = await Promise.all(
      Object.entries(lab.services).map(async ([name, service]) => {
        const tag = imageTag(service.image);
        if (!(await this.runtime.imageExists(tag))) throw new ImageMissingError(tag);
        return { name, imageTag: tag, ...service };
      }),
    );

    const sandbox = await this.runtime.createSandbox({
      instance: this.config.instance,
      sessionId: id,
      labId: lab.id,
      expiresAt,
      services,
      limits: {
        memoryBytes: this.config.containerMemoryMb * 1024 * 1024,
        nanoCpus: Math.round(this.config.containerCpus * 1e9),
        pids: this.config.containerPids,
      },
    });

    const session: Session = { id, labId: lab.id, token: randomBytes(32).toString('base64url'), createdAt, expiresAt, sandbox };
    this.sessions.set(id, session);
    this.timers.set(id, setTimeout(() => void this.end(id, 'expired'), expiresAt - createdAt).unref());
    this.log.info({ sessionId: id, labId: lab.id, expiresAt: new Date(expiresAt).toISOString() }, 'session started');
    return session;
  }

  /** Returns the session if the token matches; throws 404 or 401 otherwise. */
  authorize(sessionId: string, token: string | undefined): Session {
    const session = this.sessions.get(sessionId);
    if (!session) throw new SessionNotFoundError(sessionId);
    if (!token || !tokensEqual(token, session.token)) throw new UnauthorizedError();
    return session;
  }

  lab(session: Session): Lab {
    const lab = this.labs.get(session.labId);
    if (!lab) throw new LabNotFoundError(session.labId);
    return lab;
  }

  async end(sessionId: string, reason: SessionEndReason): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (!session) return;

    this.sessions.delete(sessionId);
    clearTimeout(this.timers.get(sessionId));
    this.timers.delete(sessionId);
    for (const listener of this.endListeners) listener(sessionId, reason);

    try {
      const removed = await this.runtime.removeSandbox(this.config.instance, sessionId);
      this.log.info({ sessionId, labId: session.labId, reason, ...removed }, 'session ended');
    } catch (error) {
      this.log.error({ sessionId, labId: session.labId, reason, err: error }, 'removing the sandbox failed');
    }
  }

  async endAll(reason: SessionEndReason): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id, reason)));
  }
}

function tokensEqual(candidate: string, expected: string): boolean {
  const a = Buffer.from(candidate);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
