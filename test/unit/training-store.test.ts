// The training store, the session store beside it, the join-code and display-name rules, the
// roster and the pool size, on a temporary SQLite file.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { SessionStore, tokenDigest } from '../../lab-server/src/store/session-store.ts';
import { StateStore } from '../../lab-server/src/store/state-store.ts';
import {
  checkDisplayName,
  formatJoinCode,
  JOIN_CODE_ALPHABET,
  newJoinCode,
  normalizeJoinCode,
} from '../../lab-server/src/trainings/join-code.ts';
import type { Lab } from '../../lab-server/src/labs/schema.ts';
import type { Session } from '../../lab-server/src/sessions/manager.ts';
import {
  CONNECTED_WITHIN_MS,
  learnerKey,
  rosterEntry,
  type RosterSources,
} from '../../lab-server/src/trainings/roster.ts';
import { TrainingStore, type Training } from '../../lab-server/src/trainings/training-store.ts';
import {
  poolSizeFor,
  trainingCapacity,
  Trainings,
} from '../../lab-server/src/trainings/trainings.ts';
import type { SessionManager } from '../../lab-server/src/sessions/manager.ts';
import { pino } from 'pino';

const FIELDS = {
  name: 'Contributor day',
  labs: ['inside-the-web-container', 'the-router'],
  minutes: 90,
  expectedLearners: 12,
};

describe('training store', () => {
  let folder: string;
  let file: string;

  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'ddev-lab-training-'));
    file = path.join(folder, 'state.sqlite');
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  test('training and learners survive reopening', () => {
    const first = new StateStore(file);
    const created = new TrainingStore(first.connection).create(FIELDS);
    new TrainingStore(first.connection).join(created.id, 'learner-a', 'Ada');
    first.close();

    const second = new StateStore(file);
    const store = new TrainingStore(second.connection);

    assert.deepEqual(store.get(created.id), created);
    assert.deepEqual(store.get(created.id)!.labs, FIELDS.labs);
    assert.deepEqual(
      store.learners(created.id).map((learner) => learner.displayName),
      ['Ada'],
    );
    assert.equal(store.openTrainingOf('learner-a')?.id, created.id);
    second.close();
  });

  test('joining again renames', () => {
    const state = new StateStore(':memory:');
    const store = new TrainingStore(state.connection);
    const training = store.create(FIELDS);

    store.join(training.id, 'learner-a', 'Ada');
    store.join(training.id, 'learner-a', 'Ada L.');

    assert.deepEqual(
      store.learners(training.id).map((learner) => learner.displayName),
      ['Ada L.'],
    );
  });

  test('ended or past trainings take no one', () => {
    const state = new StateStore(':memory:');
    const store = new TrainingStore(state.connection);
    const now = Date.now();
    const ended = store.create(FIELDS, now);
    const past = store.create({ ...FIELDS, minutes: 10 }, now - 11 * 60_000);

    store.end(ended.id);

    assert.equal(store.findOpenByCode(ended.joinCode), undefined);
    assert.equal(store.findOpenByCode(past.joinCode), undefined);
    assert.deepEqual(store.listOpen(), []);
    assert.notEqual(store.get(ended.id)!.endedAt, null);
  });

  test('join code collision picks another', () => {
    const state = new StateStore(':memory:');
    const codes = ['AAAAAA', 'AAAAAA', 'CCCCCC'];
    const store = new TrainingStore(state.connection, { makeCode: () => codes.shift()! });

    const first = store.create(FIELDS);
    const second = store.create(FIELDS);

    assert.equal(first.joinCode, 'AAAAAA');
    assert.equal(second.joinCode, 'CCCCCC');
  });

  test('session store keeps digests, never tokens', () => {
    const state = new StateStore(':memory:');
    const sessions = new SessionStore(state.connection, 'one');
    const other = new SessionStore(state.connection, 'two');
    const times = { createdAt: 1, expiresAt: 2, maxExpiresAt: 3 };

    sessions.save(
      { id: 'aaaaaaaaaaaaaaaa', labId: 'lab', learnerId: 'learner', ...times },
      'secret-token',
    );
    sessions.addToken('aaaaaaaaaaaaaaaa', 'second-token');
    sessions.updateExpiry('aaaaaaaaaaaaaaaa', 5);

    const [stored] = sessions.list();
    assert.equal(stored!.expiresAt, 5);
    assert.deepEqual(
      stored!.tokenDigests.sort(),
      [tokenDigest('secret-token'), tokenDigest('second-token')].sort(),
    );
    const dump = JSON.stringify(state.connection.prepare('SELECT * FROM session_tokens').all());
    assert.ok(!dump.includes('secret-token'));
    assert.deepEqual(other.list(), []);

    sessions.remove('aaaaaaaaaaaaaaaa');
    assert.deepEqual(sessions.list(), []);
    assert.deepEqual(state.connection.prepare('SELECT * FROM session_tokens').all(), []);
  });
});

describe('join codes and names', () => {
  test('new codes use the alphabet', () => {
    for (let index = 0; index < 200; index += 1) {
      const code = newJoinCode();
      assert.match(code, new RegExp(`^[${JOIN_CODE_ALPHABET}]{6}$`));
    }
  });

  test('typing is forgiving', () => {
    assert.equal(normalizeJoinCode('acd-efg'), 'ACDEFG');
    assert.equal(normalizeJoinCode(' AcD eFg '), 'ACDEFG');
    assert.equal(formatJoinCode('ACDEFG'), 'ACD-EFG');
  });

  test('look-alikes and wrong lengths are refused', () => {
    assert.equal(normalizeJoinCode('ACDEF0'), undefined);
    assert.equal(normalizeJoinCode('ACDEFI'), undefined);
    assert.equal(normalizeJoinCode('ACDEF'), undefined);
    assert.equal(normalizeJoinCode('ACDEFGH'), undefined);
    assert.equal(normalizeJoinCode(42), undefined);
    assert.equal(normalizeJoinCode('A'.repeat(1000)), undefined);
  });

  test('display names are trimmed and checked', () => {
    assert.deepEqual(checkDisplayName('  Ada   Lovelace '), { name: 'Ada Lovelace' });
    assert.deepEqual(checkDisplayName('Zoë'), { name: 'Zoë' });
    assert.ok('problem' in checkDisplayName('   '));
    assert.ok('problem' in checkDisplayName('x'.repeat(41)));
    assert.ok('problem' in checkDisplayName('evil\u202Eeman'));
    assert.ok('problem' in checkDisplayName('bell\u0007'));
    assert.ok('problem' in checkDisplayName(undefined));
  });

  test('roster keys hide learner ids', () => {
    const key = learnerKey('learner-cookie-value');

    assert.match(key, /^[0-9a-f]{16}$/);
    assert.ok(!key.includes('learner'));
    assert.equal(key, learnerKey('learner-cookie-value'));
  });

  test('pool is half the room, capped', () => {
    assert.equal(poolSizeFor(1, 60), 1);
    assert.equal(poolSizeFor(30, 60), 15);
    assert.equal(poolSizeFor(31, 60), 16);
    assert.equal(poolSizeFor(200, 60), 60);
  });
});

describe('roster connected', () => {
  const now = 1_000_000_000;
  const lab = {
    id: 'inside-the-web-container',
    title: 'Inside',
    steps: [{ id: 'one', title: 'One' }],
    terminals: [],
  } as unknown as Lab;
  const training = { id: 't', labs: [lab.id] } as Training;
  const learner = { learnerId: 'learner-a', displayName: 'Ada', joinedAt: now };

  function connected(options: {
    lastSeenAt: number;
    attached: number;
    detachedAt?: number;
  }): boolean {
    const session = {
      id: 's',
      labId: lab.id,
      learnerId: 'learner-a',
      expiresAt: now + 60_000,
      lastSeenAt: options.lastSeenAt,
    } as Session;
    const sources: RosterSources = {
      labs: new Map([[lab.id, lab]]),
      sessionsOf: () => [session],
      passedSteps: () => [],
      attachedTerminals: () => options.attached,
      detachedAt: () => options.detachedAt,
    };
    return rosterEntry(training, learner, sources, now).connected;
  }

  test('attached terminal is connected', () => {
    assert.equal(
      connected({ lastSeenAt: now - 10 * CONNECTED_WITHIN_MS, attached: 1, detachedAt: now - 1 }),
      true,
    );
  });

  test('closed tab is gone at once', () => {
    assert.equal(
      connected({ lastSeenAt: now - 5_000, attached: 0, detachedAt: now - 1_000 }),
      false,
    );
  });

  test('heartbeat after close counts', () => {
    assert.equal(
      connected({ lastSeenAt: now - 1_000, attached: 0, detachedAt: now - 5_000 }),
      true,
    );
  });

  test('heartbeat without sockets counts', () => {
    assert.equal(connected({ lastSeenAt: now - 1_000, attached: 0 }), true);
  });

  test('old heartbeat is not connected', () => {
    assert.equal(connected({ lastSeenAt: now - CONNECTED_WITHIN_MS, attached: 0 }), false);
  });
});

describe('training capacity', () => {
  test('capacity leaves room to spare', () => {
    assert.equal(trainingCapacity(1), 7);
    assert.equal(trainingCapacity(30), 65);
  });

  test('a full training refuses new learners', () => {
    const state = new StateStore(':memory:');
    const sessions = {
      onStart: () => undefined,
      onEnd: () => undefined,
      store: { touchLearner: () => undefined },
      list: () => [],
    };
    const labs = new Map(FIELDS.labs.map((id) => [id, { id } as Lab]));
    const trainings = new Trainings({
      store: new TrainingStore(state.connection),
      sessions: sessions as unknown as SessionManager,
      labs,
      log: pino({ level: 'silent' }),
    });
    const training = trainings.store.create({ ...FIELDS, expectedLearners: 1 });

    for (let index = 0; index < trainingCapacity(1); index += 1)
      trainings.join(training.joinCode, `Learner ${index}`, `learner-${index}`);

    assert.throws(
      () => trainings.join(training.joinCode, 'One too many', 'learner-extra'),
      /This training is full: it admits 7 learners/,
    );
    assert.doesNotThrow(() => trainings.join(training.joinCode, 'Learner 0', 'learner-0'));
    state.close();
  });
});
