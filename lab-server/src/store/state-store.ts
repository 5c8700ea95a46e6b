// The state that outlives a lab server restart: anonymous learners, the steps each has passed and
// the failed checks that decide which hints they see. One SQLite file through Node's built-in
// node:sqlite, so nothing native needs installing. Writes are synchronous and small.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS learners (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    seen_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS progress (
    learner_id TEXT NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    lab_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    passed_at INTEGER NOT NULL,
    PRIMARY KEY (learner_id, lab_id, step_id)
  );
  CREATE TABLE IF NOT EXISTS failures (
    learner_id TEXT NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    lab_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (learner_id, lab_id, step_id)
  );
`;

export class StateStore {
  private readonly database: DatabaseSync;

  /** Opens (and creates) the SQLite file; `:memory:` keeps everything in memory. */
  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.database = new DatabaseSync(file);
    this.database.exec(
      'PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 2000;',
    );
    this.database.exec(SCHEMA);
  }

  /** Records a learner, or the time it was last seen when it exists. */
  touchLearner(learnerId: string): void {
    const now = Date.now();
    this.database
      .prepare(
        'INSERT INTO learners (id, created_at, seen_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at',
      )
      .run(learnerId, now, now);
  }

  /** Returns the ids of the steps the learner has passed in a lab, in the order passed. */
  passedSteps(learnerId: string, labId: string): string[] {
    const rows = this.database
      .prepare(
        'SELECT step_id FROM progress WHERE learner_id = ? AND lab_id = ? ORDER BY passed_at, rowid',
      )
      .all(learnerId, labId) as { step_id: string }[];
    return rows.map((row) => row.step_id);
  }

  markPassed(learnerId: string, labId: string, stepId: string): void {
    this.touchLearner(learnerId);
    this.database
      .prepare(
        'INSERT OR IGNORE INTO progress (learner_id, lab_id, step_id, passed_at) VALUES (?, ?, ?, ?)',
      )
      .run(learnerId, labId, stepId, Date.now());
  }

  /** Returns the failure count after adding one failed check. */
  recordFailure(learnerId: string, labId: string, stepId: string): number {
    this.touchLearner(learnerId);
    const row = this.database
      .prepare(
        `INSERT INTO failures (learner_id, lab_id, step_id, count) VALUES (?, ?, ?, 1)
         ON CONFLICT (learner_id, lab_id, step_id) DO UPDATE SET count = count + 1 RETURNING count`,
      )
      .get(learnerId, labId, stepId) as { count: number };
    return row.count;
  }

  failures(learnerId: string, labId: string): Record<string, number> {
    const rows = this.database
      .prepare('SELECT step_id, count FROM failures WHERE learner_id = ? AND lab_id = ?')
      .all(learnerId, labId) as { step_id: string; count: number }[];
    return Object.fromEntries(rows.map((row) => [row.step_id, row.count]));
  }

  /** Forgets that the learner passed these steps, so they can be done again. Failures stay. */
  forgetSteps(learnerId: string, labId: string, stepIds: readonly string[]): void {
    const statement = this.database.prepare(
      'DELETE FROM progress WHERE learner_id = ? AND lab_id = ? AND step_id = ?',
    );
    for (const stepId of stepIds) statement.run(learnerId, labId, stepId);
  }

  /** The open connection, for the stores that keep their own tables in the same file. */
  get connection(): DatabaseSync {
    return this.database;
  }

  close(): void {
    if (this.database.isOpen) this.database.close();
  }
}
