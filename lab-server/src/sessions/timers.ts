// The timers that end sessions: one expiry timer per session, and a sweep that ends sessions
// whose page closed (no heartbeat) or whose learner went idle (no key press or click).
import type { Config } from '../config.ts';
import type { Session, SessionEndReason } from './session.ts';

/** How often idle and abandoned sessions are looked for. */
const IDLE_SWEEP_MS = 10_000;

export class SessionTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly idleSweep: NodeJS.Timeout;
  private readonly config: Config;
  private readonly sessions: () => Iterable<Session>;
  private readonly end: (sessionId: string, reason: SessionEndReason) => Promise<void>;

  constructor(options: {
    config: Config;
    sessions: () => Iterable<Session>;
    end: (sessionId: string, reason: SessionEndReason) => Promise<void>;
  }) {
    this.config = options.config;
    this.sessions = options.sessions;
    this.end = options.end;
    this.idleSweep = setInterval(() => this.endIdleSessions(), IDLE_SWEEP_MS).unref();
  }

  /** Ends the session at its expiry, replacing an earlier timer of the same session. */
  scheduleExpiry(session: Session): void {
    clearTimeout(this.timers.get(session.id));
    const delay = Math.max(0, session.expiresAt - Date.now());
    this.timers.set(
      session.id,
      setTimeout(() => void this.end(session.id, 'expired'), delay).unref(),
    );
  }

  cancelExpiry(sessionId: string): void {
    clearTimeout(this.timers.get(sessionId));
    this.timers.delete(sessionId);
  }

  /** Stops the idle sweep; expiry timers are cancelled one by one. */
  stopIdleSweep(): void {
    clearInterval(this.idleSweep);
  }

  private endIdleSessions(): void {
    const now = Date.now();
    for (const session of this.sessions()) {
      if (now - session.lastSeenAt > this.config.closedGraceSeconds * 1000)
        void this.end(session.id, 'abandoned');
      else if (now - session.lastActiveAt > this.config.idleMinutes * 60_000)
        void this.end(session.id, 'idle');
    }
  }
}
