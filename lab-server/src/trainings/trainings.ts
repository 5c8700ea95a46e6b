// Trainings for a room: the instructor creates one (its labs in order, its length, how many
// learners to expect) and gets a join code; learners join with the code and a display name,
// with no account. Everything the dashboard shows is derived from the stores and the running
// sessions; `changes` tells the dashboard's streams when to look again.
import { EventEmitter } from 'node:events';

import { LabError } from '../errors.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { SessionManager } from '../sessions/manager.ts';
import { checkDisplayName, normalizeJoinCode } from './join-code.ts';
import { rosterEntry, type RosterEntry } from './roster.ts';
import { isOpen, TrainingStore, type NewTraining, type Training } from './training-store.ts';

export const TRAINING_LIMITS = {
  nameMax: 80,
  labsMax: 20,
  minutesMin: 10,
  minutesMax: 12 * 60,
  learnersMax: 500,
} as const;

export class TrainingError extends LabError {}

/** The pool control the session manager offers once the pool of ready sandboxes is in. */
interface PoolControl {
  setPoolTarget(labId: string, size: number): void;
}

/**
 * Ready sandboxes to keep for a training's first lab. Learners of a room arrive within minutes of
 * each other, and the pool refills in the background, so half the room ready at once covers the
 * rush without holding a sandbox for every learner who may never come.
 */
export function poolSizeFor(expectedLearners: number, maxSessions: number): number {
  return Math.min(Math.ceil(expectedLearners / 2), maxSessions);
}

/**
 * Learners a training admits: twice the expected number plus five, so a room larger than planned
 * still fits, while a leaked join code cannot fill the server with new learners.
 */
export function trainingCapacity(expectedLearners: number): number {
  return expectedLearners * 2 + 5;
}

export class Trainings {
  readonly store: TrainingStore;
  /** Emits `changed` whenever something on a dashboard may have changed. */
  readonly changes = new EventEmitter();
  private readonly attached = new Map<string, number>();
  /** When each session's last terminal socket closed, so the roster drops a closed tab at once. */
  private readonly detached = new Map<string, number>();
  private poolLabs = new Set<string>();

  private readonly sessions: SessionManager;
  private readonly labs: Map<string, Lab>;
  private readonly log: Logger;

  constructor(options: {
    store: TrainingStore;
    sessions: SessionManager;
    labs: Map<string, Lab>;
    log: Logger;
  }) {
    this.store = options.store;
    this.sessions = options.sessions;
    this.labs = options.labs;
    this.log = options.log;
    this.changes.setMaxListeners(0);

    this.sessions.onStart(() => this.changed());
    this.sessions.onEnd((sessionId) => {
      this.detached.delete(sessionId);
      this.changed();
    });
  }

  /** Something a dashboard shows has changed: a check, a session, a terminal, a join. */
  changed(): void {
    this.changes.emit('changed');
  }

  /** Validates and stores a training, and sizes the pool of its first lab. */
  create(fields: Record<string, unknown>): Training {
    const training = this.store.create(this.validate(fields));
    this.log.info(
      { trainingId: training.id, labs: training.labs, expectedLearners: training.expectedLearners },
      'training created',
    );
    this.updatePools();
    this.changed();
    return training;
  }

  /** Adds the learner to the open training with this code; throws a message the learner can act on. */
  join(typedCode: unknown, typedName: unknown, learnerId: string): Training {
    const code = normalizeJoinCode(typedCode);
    const training = code ? this.store.findOpenByCode(code) : undefined;
    if (!training) {
      throw new TrainingError(
        'JoinCodeUnknown',
        404,
        'No open training has this code. Check the code on the welcome slide, or ask the instructor.',
      );
    }

    const name = checkDisplayName(typedName);
    if ('problem' in name) throw new TrainingError('InvalidDisplayName', 400, name.problem);

    const learners = this.store.learners(training.id);
    const capacity = trainingCapacity(training.expectedLearners);
    if (
      learners.length >= capacity &&
      !learners.some((learner) => learner.learnerId === learnerId)
    ) {
      this.log.warn(
        { trainingId: training.id, learners: learners.length, capacity },
        'join rejected: the training is full',
      );
      throw new TrainingError(
        'TrainingFull',
        409,
        `This training is full: it admits ${capacity} learners, and that many have joined. Ask the instructor to start a second training for the rest of the room.`,
      );
    }

    this.sessions.store.touchLearner(learnerId);
    this.store.join(training.id, learnerId, name.name);
    this.log.info({ trainingId: training.id, learnerId }, 'learner joined a training');
    this.changed();
    return training;
  }

  /** Ends the training and every session of its learners. */
  async end(trainingId: string): Promise<Training> {
    const training = this.require(trainingId);
    this.store.end(training.id);

    const learners = new Set(this.store.learners(training.id).map((learner) => learner.learnerId));
    const ending = this.sessions.list().filter((session) => learners.has(session.learnerId));
    await Promise.all(ending.map((session) => this.sessions.end(session.id, 'stopped')));

    this.log.info({ trainingId: training.id, sessions: ending.length }, 'training ended');
    this.updatePools();
    this.changed();
    return this.require(trainingId);
  }

  require(trainingId: string): Training {
    const training = this.store.get(trainingId);
    if (!training)
      throw new TrainingError(
        'TrainingNotFound',
        404,
        `No training has the id "${trainingId}". Reload the dashboard.`,
      );
    return training;
  }

  roster(training: Training): RosterEntry[] {
    const sources = {
      labs: this.labs,
      sessionsOf: (learnerId: string) =>
        this.sessions.list().filter((session) => session.learnerId === learnerId),
      passedSteps: (learnerId: string, labId: string) =>
        this.sessions.store.passedSteps(learnerId, labId),
      attachedTerminals: (sessionId: string) => this.attached.get(sessionId) ?? 0,
      detachedAt: (sessionId: string) => this.detached.get(sessionId),
    };
    return this.store
      .learners(training.id)
      .map((learner) => rosterEntry(training, learner, sources));
  }

  /** Whether the learner is in an open training: their sessions then survive a server stop. */
  isTrainingLearner(learnerId: string): boolean {
    return this.store.openTrainingOf(learnerId) !== undefined;
  }

  /** Counts a page's terminal socket in or out, for the dashboard's "connected". */
  terminalAttached(sessionId: string, delta: 1 | -1, now = Date.now()): void {
    const count = (this.attached.get(sessionId) ?? 0) + delta;
    if (count > 0) {
      this.attached.set(sessionId, count);
    } else {
      this.attached.delete(sessionId);
      // A socket that closes because its session ended leaves nothing to remember.
      if (this.sessions.get(sessionId)) this.detached.set(sessionId, now);
    }
    this.changed();
  }

  openCount(): { trainings: number; learners: number } {
    const open = this.store.listOpen();
    return {
      trainings: open.length,
      learners: open.reduce((sum, training) => sum + this.store.learners(training.id).length, 0),
    };
  }

  /**
   * Sets the pool of ready sandboxes of every lab that opens an open training, summed over those
   * trainings, and empties the pools of labs that no longer do.
   */
  updatePools(): void {
    const targets = new Map<string, number>();
    for (const training of this.store.listOpen()) {
      const first = training.labs[0]!;
      targets.set(
        first,
        (targets.get(first) ?? 0) +
          poolSizeFor(training.expectedLearners, this.sessions.config.maxSessions),
      );
    }
    for (const labId of this.poolLabs) if (!targets.has(labId)) targets.set(labId, 0);

    const pool = this.sessions as Partial<PoolControl>;
    for (const [labId, size] of targets) {
      const capped = Math.min(size, this.sessions.config.maxSessions);
      if (pool.setPoolTarget) pool.setPoolTarget(labId, capped);
      else
        this.log.warn(
          { labId, size: capped },
          'this server has no pool of ready sandboxes; learners wait for a fresh start',
        );
    }
    this.poolLabs = new Set([...targets].filter(([, size]) => size > 0).map(([labId]) => labId));
  }

  private validate(fields: Record<string, unknown>): NewTraining {
    const name = typeof fields.name === 'string' ? fields.name.trim().replace(/\s+/g, ' ') : '';
    if (name.length === 0 || name.length > TRAINING_LIMITS.nameMax) {
      throw new TrainingError(
        'InvalidTraining',
        400,
        `Give the training a name of 1 to ${TRAINING_LIMITS.nameMax} characters.`,
      );
    }

    const labs = Array.isArray(fields.labs) ? fields.labs : [];
    const unknown = labs.filter((id) => typeof id !== 'string' || !this.labs.has(id));
    if (
      labs.length === 0 ||
      labs.length > TRAINING_LIMITS.labsMax ||
      unknown.length > 0 ||
      new Set(labs).size !== labs.length
    ) {
      const known = [...this.labs.keys()].join(', ');
      throw new TrainingError(
        'InvalidTraining',
        400,
        `List 1 to ${TRAINING_LIMITS.labsMax} different labs, each one of: ${known}.`,
      );
    }

    const minutes = Number(fields.minutes);
    if (
      !Number.isInteger(minutes) ||
      minutes < TRAINING_LIMITS.minutesMin ||
      minutes > TRAINING_LIMITS.minutesMax
    ) {
      throw new TrainingError(
        'InvalidTraining',
        400,
        `Set the duration to whole minutes from ${TRAINING_LIMITS.minutesMin} to ${TRAINING_LIMITS.minutesMax}.`,
      );
    }

    const expectedLearners = Number(fields.expectedLearners);
    if (
      !Number.isInteger(expectedLearners) ||
      expectedLearners < 1 ||
      expectedLearners > TRAINING_LIMITS.learnersMax
    ) {
      throw new TrainingError(
        'InvalidTraining',
        400,
        `Set the expected learners to a whole number from 1 to ${TRAINING_LIMITS.learnersMax}.`,
      );
    }
    return { name, labs: labs as string[], minutes, expectedLearners };
  }
}

export { isOpen };
