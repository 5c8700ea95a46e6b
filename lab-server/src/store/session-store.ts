// The running sessions, kept so that a restarted lab server can give each learner back the
// sandbox it found by label. Tokens are never stored: only their SHA-256 digests, which let the
// server check a token a page still holds but not recover one. A 256-bit random token makes the
// digest as hard to reverse as the token is to guess, so no salt or slow hash is needed.
import { createHash } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    lab_id TEXT NOT NULL,
    learner_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    max_expires_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS session_tokens (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    token_sha256 TEXT NOT NULL,
    PRIMARY KEY (session_id, token_sha256)
  );
`;

export interface StoredSession {
  id: string;
  labId: string;
  learnerId: string;
  createdAt: number;
  expiresAt: number;
  maxExpiresAt: number;
  /** Hex SHA-256 digests of every token the session has been given. */
  tokenDigests: string[];
}

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class SessionStore {
  private readonly database: DatabaseSync;
  private readonly instance: string;

  /** Keeps the sessions of one server instance; several instances may share a file. */
  constructor(database: DatabaseSync, instance: string) {
    this.database = database;
    this.instance = instance;
    this.database.exec(SCHEMA);
  }

  save(session: Omit<StoredSession, 'tokenDigests'>, token: string): void {
    this.database
      .prepare(
        `INSERT OR REPLACE INTO sessions (id, instance, lab_id, learner_id, created_at, expires_at, max_expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        session.id,
        this.instance,
        session.labId,
        session.learnerId,
        session.createdAt,
        session.expiresAt,
        session.maxExpiresAt,
      );
    this.addToken(session.id, token);
  }

  addToken(sessionId: string, token: string): void {
    this.database
      .prepare('INSERT OR IGNORE INTO session_tokens (session_id, token_sha256) VALUES (?, ?)')
      .run(sessionId, tokenDigest(token));
  }

  updateExpiry(sessionId: string, expiresAt: number): void {
    this.database
      .prepare('UPDATE sessions SET expires_at = ? WHERE id = ?')
      .run(expiresAt, sessionId);
  }

  remove(sessionId: string): void {
    this.database.prepare('DELETE FROM sessions WHERE id = ?').run(sessionId);
  }

  /** Every stored session of this instance, oldest first. */
  list(): StoredSession[] {
    const rows = this.database
      .prepare(
        'SELECT id, lab_id, learner_id, created_at, expires_at, max_expires_at FROM sessions WHERE instance = ? ORDER BY created_at',
      )
      .all(this.instance) as {
      id: string;
      lab_id: string;
      learner_id: string;
      created_at: number;
      expires_at: number;
      max_expires_at: number;
    }[];
    const digests = this.database.prepare(
      'SELECT token_sha256 FROM session_tokens WHERE session_id = ?',
    );

    return rows.map((row) => ({
      id: row.id,
      labId: row.lab_id,
      learnerId: row.learner_id,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      maxExpiresAt: row.max_expires_at,
      tokenDigests: (digests.all(row.id) as { token_sha256: string }[]).map(
        (digest) => digest.token_sha256,
      ),
    }));
  }
}
