import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { StateStore } from '../../lab-server/src/store/state-store.ts';

describe('state store', () => {
  let folder: string;

  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'ddev-lab-store-'));
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  test('progress survives reopening', () => {
    const file = path.join(folder, 'nested', 'state.sqlite');
    const first = new StateStore(file);
    first.markPassed('learner', 'lab', 'one');
    first.markPassed('learner', 'lab', 'two');
    first.markPassed('learner', 'lab', 'one');
    first.close();

    const second = new StateStore(file);

    assert.deepEqual(second.passedSteps('learner', 'lab'), ['one', 'two']);
    assert.deepEqual(second.passedSteps('learner', 'other-lab'), []);
    assert.deepEqual(second.passedSteps('someone-else', 'lab'), []);
    second.close();
  });

  test('failures count up per step', () => {
    const store = new StateStore(':memory:');

    assert.equal(store.recordFailure('learner', 'lab', 'one'), 1);
    assert.equal(store.recordFailure('learner', 'lab', 'one'), 2);
    assert.equal(store.recordFailure('learner', 'lab', 'two'), 1);
    assert.deepEqual(store.failures('learner', 'lab'), { one: 2, two: 1 });
    store.close();
  });

  test('forget steps keeps the rest', () => {
    const store = new StateStore(':memory:');
    for (const step of ['one', 'two', 'three']) store.markPassed('learner', 'lab', step);

    store.forgetSteps('learner', 'lab', ['two', 'three']);

    assert.deepEqual(store.passedSteps('learner', 'lab'), ['one']);
    store.close();
  });
});
