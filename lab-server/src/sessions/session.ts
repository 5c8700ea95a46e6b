// A lab session's record and its token, the events around sessions, and the error of a learner
// who runs too many.
import { randomBytes, timingSafeEqual } from 'node:crypto';

import { LabError } from '../errors.ts';
import type { Lab } from '../labs/schema.ts';
import type { Sandbox } from '../sandbox/runtime.ts';
import { tokenDigest } from '../store/session-store.ts';

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
export type PoolEvent =
  { state: 'started'; id: string; lab: Lab; sandbox: Sandbox } | { state: 'removed'; id: string };

export type SessionEndReason =
  'stopped' | 'expired' | 'shutdown' | 'idle' | 'abandoned' | 'reset' | 'failed';

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

/** Returns the record of a session that starts now, with a fresh token and no step prepared. */
export function newSession(
  fields: Pick<
    Session,
    'id' | 'labId' | 'learnerId' | 'createdAt' | 'expiresAt' | 'maxExpiresAt' | 'sandbox'
  >,
): Session {
  const { id, labId, learnerId, createdAt, expiresAt, maxExpiresAt, sandbox } = fields;
  return {
    id,
    labId,
    learnerId,
    token: newToken(),
    createdAt,
    expiresAt,
    maxExpiresAt,
    lastSeenAt: createdAt,
    lastActiveAt: createdAt,
    sandbox,
    preparedSteps: new Set(),
  };
}

/** Returns a new unguessable session token: 32 random bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Checks a token against the session's, in constant time, then against the digests of the
 * tokens that pages held before a restart.
 */
export function tokenMatches(
  token: string,
  session: Session,
  earlierDigests: readonly string[],
): boolean {
  if (tokensEqual(token, session.token)) return true;
  const digest = tokenDigest(token);
  return earlierDigests.some((earlier) => tokensEqual(digest, earlier));
}

function tokensEqual(candidate: string, expected: string): boolean {
  const a = Buffer.from(candidate);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
