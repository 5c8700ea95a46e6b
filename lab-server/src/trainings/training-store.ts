// Trainings and the learners who joined them, in the lab server's SQLite file beside the
// learners' progress, so that a restart keeps the room as it was.
import { randomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';

import { newJoinCode } from './join-code.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS trainings (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    labs TEXT NOT NULL,
    minutes INTEGER NOT NULL,
    expected_learners INTEGER NOT NULL,
    join_code TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    ended_at INTEGER
  );
  CREATE TABLE IF NOT EXISTS training_learners (
    training_id TEXT NOT NULL REFERENCES trainings(id) ON DELETE CASCADE,
    learner_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (training_id, learner_id)
  );
`;

export interface Training {
  id: string;
  name: string;
  /** Lab ids in the order the learners do them. */
  labs: string[];
  minutes: number;
  expectedLearners: number;
  joinCode: string;
  createdAt: number;
  endsAt: number;
  /** Set when the instructor ended it; an ended training takes no one in. */
  endedAt: number | null;
}

export interface TrainingLearner {
  learnerId: string;
  displayName: string;
  joinedAt: number;
}

export type NewTraining = Pick<Training, 'name' | 'labs' | 'minutes' | 'expectedLearners'>;

interface TrainingRow {
  id: string;
  name: string;
  labs: string;
  minutes: number;
  expected_learners: number;
  join_code: string;
  created_at: number;
  ends_at: number;
  ended_at: number | null;
}

/** Attempts at a join code before giving up; a collision is rare, ten in a row is a broken RNG. */
const CODE_ATTEMPTS = 10;

export class TrainingStore {
  private readonly database: DatabaseSync;
  private readonly makeCode: () => string;

  constructor(database: DatabaseSync, options: { makeCode?: () => string } = {}) {
    this.database = database;
    this.makeCode = options.makeCode ?? newJoinCode;
    this.database.exec(SCHEMA);
  }

  /** Stores a new training with a join code that no other training, ended or not, has had. */
  create(fields: NewTraining, now = Date.now()): Training {
    const id = randomBytes(8).toString('hex');
    const insert = this.database.prepare(
      `INSERT OR IGNORE INTO trainings (id, name, labs, minutes, expected_learners, join_code, created_at, ends_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );

    for (let attempt = 0; attempt < CODE_ATTEMPTS; attempt += 1) {
      const code = this.makeCode();
      const endsAt = now + fields.minutes * 60_000;
      const result = insert.run(
        id,
        fields.name,
        JSON.stringify(fields.labs),
        fields.minutes,
        fields.expectedLearners,
        code,
        now,
        endsAt,
      );
      if (result.changes === 1) return this.get(id)!;
    }
    throw new Error(`no unused join code after ${CODE_ATTEMPTS} attempts`);
  }

  get(id: string): Training | undefined {
    const row = this.database.prepare('SELECT * FROM trainings WHERE id = ?').get(id) as
      TrainingRow | undefined;
    return row && fromRow(row);
  }

  /** The training that takes this code now: not ended by the instructor and not past its end. */
  findOpenByCode(code: string, now = Date.now()): Training | undefined {
    const row = this.database
      .prepare('SELECT * FROM trainings WHERE join_code = ? AND ended_at IS NULL AND ends_at > ?')
      .get(code, now) as TrainingRow | undefined;
    return row && fromRow(row);
  }

  /** Every training, newest first. */
  list(): Training[] {
    const rows = this.database
      .prepare('SELECT * FROM trainings ORDER BY created_at DESC, rowid DESC')
      .all() as unknown as TrainingRow[];
    return rows.map(fromRow);
  }

  /** Trainings neither ended nor past their end. */
  listOpen(now = Date.now()): Training[] {
    return this.list().filter((training) => isOpen(training, now));
  }

  end(id: string, now = Date.now()): void {
    this.database
      .prepare('UPDATE trainings SET ended_at = ? WHERE id = ? AND ended_at IS NULL')
      .run(now, id);
  }

  /** Adds the learner, or renames one who joins again. */
  join(trainingId: string, learnerId: string, displayName: string, now = Date.now()): void {
    this.database
      .prepare(
        `INSERT INTO training_learners (training_id, learner_id, display_name, joined_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (training_id, learner_id) DO UPDATE SET display_name = excluded.display_name`,
      )
      .run(trainingId, learnerId, displayName, now);
  }

  learners(trainingId: string): TrainingLearner[] {
    const rows = this.database
      .prepare(
        'SELECT learner_id, display_name, joined_at FROM training_learners WHERE training_id = ? ORDER BY joined_at, rowid',
      )
      .all(trainingId) as { learner_id: string; display_name: string; joined_at: number }[];
    return rows.map((row) => ({
      learnerId: row.learner_id,
      displayName: row.display_name,
      joinedAt: row.joined_at,
    }));
  }

  /** The open training the learner joined last, if any. */
  openTrainingOf(learnerId: string, now = Date.now()): Training | undefined {
    const row = this.database
      .prepare(
        `SELECT trainings.* FROM trainings JOIN training_learners ON training_learners.training_id = trainings.id
         WHERE training_learners.learner_id = ? AND trainings.ended_at IS NULL AND trainings.ends_at > ?
         ORDER BY training_learners.joined_at DESC LIMIT 1`,
      )
      .get(learnerId, now) as TrainingRow | undefined;
    return row && fromRow(row);
  }
}

export function isOpen(training: Training, now = Date.now()): boolean {
  return training.endedAt === null && training.endsAt > now;
}

function fromRow(row: TrainingRow): Training {
  return {
    id: row.id,
    name: row.name,
    labs: JSON.parse(row.labs) as string[],
    minutes: row.minutes,
    expectedLearners: row.expected_learners,
    joinCode: row.join_code,
    createdAt: row.created_at,
    endsAt: row.ends_at,
    endedAt: row.ended_at,
  };
}
