// The cap on live sessions per client address: slots, refusals, release and reset.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ClientSessionCap,
  ClientSessionLimitError,
} from '../../lab-server/src/http/client-session-cap.ts';

const ENDS = 'after 20 minutes without activity';

function started(id: string) {
  return async () => ({ id });
}

const live = () => true;

test('cap refuses past the limit', async () => {
  const cap = new ClientSessionCap({ limit: 2, endsOnItsOwn: ENDS });

  await cap.admit('10.0.0.1', started('a'), live);
  await cap.admit('10.0.0.1', started('b'), live);
  const refused = cap.admit('10.0.0.1', started('c'), live);

  await assert.rejects(refused, (error: unknown) => {
    assert.ok(error instanceof ClientSessionLimitError);
    assert.equal(error.status, 429);
    assert.match(
      error.message,
      /This address already runs 2 lab sessions, the most allowed at once \(2\)\./,
    );
    assert.match(error.message, /Stop one on its lab page/);
    assert.match(error.message, /end on their own after 20 minutes without activity\./);
    return true;
  });
});

test('cap counts each address alone', async () => {
  const cap = new ClientSessionCap({ limit: 1, endsOnItsOwn: ENDS });

  await cap.admit('10.0.0.1', started('a'), live);
  const other = await cap.admit('10.0.0.2', started('b'), live);

  assert.equal(other.id, 'b');
  assert.equal(cap.count('10.0.0.1'), 1);
  assert.equal(cap.count('10.0.0.2'), 1);
});

test('release frees a slot', async () => {
  const cap = new ClientSessionCap({ limit: 1, endsOnItsOwn: ENDS });

  await cap.admit('10.0.0.1', started('a'), live);
  cap.release('a');
  const again = await cap.admit('10.0.0.1', started('b'), live);

  assert.equal(again.id, 'b');
});

test('parallel starts count as held', async () => {
  const cap = new ClientSessionCap({ limit: 1, endsOnItsOwn: ENDS });
  let finish: () => void = () => undefined;
  const slow = () =>
    new Promise<{ id: string }>((resolve) => (finish = () => resolve({ id: 'a' })));

  const first = cap.admit('10.0.0.1', slow, live);
  const second = cap.admit('10.0.0.1', started('b'), live);
  finish();

  await assert.rejects(second, ClientSessionLimitError);
  assert.equal((await first).id, 'a');
  assert.equal(cap.count('10.0.0.1'), 1);
});

test('failed start frees its slot', async () => {
  const cap = new ClientSessionCap({ limit: 1, endsOnItsOwn: ENDS });

  await assert.rejects(
    cap.admit('10.0.0.1', () => Promise.reject(new Error('no room')), live),
    /no room/,
  );

  assert.equal(cap.count('10.0.0.1'), 0);
});

test('session ended while starting holds nothing', async () => {
  const cap = new ClientSessionCap({ limit: 1, endsOnItsOwn: ENDS });

  await cap.admit('10.0.0.1', started('a'), () => false);

  assert.equal(cap.count('10.0.0.1'), 0);
});

test('reset keeps the slot', async () => {
  const cap = new ClientSessionCap({ limit: 1, endsOnItsOwn: ENDS });
  await cap.admit('10.0.0.1', started('a'), live);

  const holder = cap.holderOf('a');
  cap.release('a');
  cap.hold('fresh', holder!);

  assert.equal(holder, '10.0.0.1');
  assert.equal(cap.count('10.0.0.1'), 1);
  await assert.rejects(cap.admit('10.0.0.1', started('c'), live), ClientSessionLimitError);
});

test('limit 0 turns the cap off', async () => {
  const cap = new ClientSessionCap({ limit: 0, endsOnItsOwn: ENDS });

  for (const id of ['a', 'b', 'c', 'd']) await cap.admit('10.0.0.1', started(id), live);

  assert.equal(cap.count('10.0.0.1'), 0);
});
