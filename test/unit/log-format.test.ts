// The text log format: one readable line per pino entry, with the important fields and an
// error's stack under it. Anything that is not JSON passes through.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';

import { formatEntry, textDestination } from '../../lab-server/src/log.ts';

function logLines(write: (log: pino.Logger) => void): string[] {
  const output: string[] = [];
  const log = pino(
    { level: 'debug', base: undefined },
    textDestination({ write: (text: string) => output.push(text) }, false),
  );
  write(log);
  return output;
}

describe('text log format', () => {
  test('one line per entry', () => {
    const [line] = logLines((log) =>
      log.info({ labId: 'the-router', sessionId: 'abc', containers: 3 }, 'session ended'),
    );

    assert.match(
      line!,
      /^\d\d:\d\d:\d\d INFO  session ended sessionId=abc labId=the-router containers=3\n$/,
    );
  });

  test('levels are named', () => {
    const lines = logLines((log) => {
      log.debug('d');
      log.warn('w');
      log.error('e');
    });

    assert.deepEqual(
      lines.map((line) => line.split(' ')[1]),
      ['DEBUG', 'WARN', 'ERROR'],
    );
  });

  test('error stack goes under the line', () => {
    const [line] = logLines((log) =>
      log.error({ err: new Error('engine gone') }, 'removing the sandbox failed'),
    );
    const [head, ...stack] = line!.trimEnd().split('\n');

    assert.match(head!, /ERROR removing the sandbox failed$/);
    assert.match(stack[0]!, /^ {4}Error: engine gone$/);
    assert.ok(stack.length > 1);
  });

  test('secrets and noise stay out', () => {
    const [line] = logLines((log) =>
      log.child({ learnerId: 'cookie-value', shellId: 'xyz' }).info('learner joined a training'),
    );

    assert.doesNotMatch(line!, /cookie-value|xyz|pid=|hostname=/);
  });

  test('values are quoted and cut', () => {
    const [line] = logLines((log) =>
      log.info({ note: 'two words', roomUrls: [], long: 'x'.repeat(500) }, 'm'),
    );

    assert.match(line!, / note="two words" /);
    assert.match(line!, / roomUrls=\[\] /);
    assert.match(line!, / long=x+…\n$/);
    assert.ok(line!.length < 200);
  });

  test('other text passes through', () => {
    assert.equal(formatEntry('not json'), 'not json\n');
  });

  test('colors only when asked', () => {
    const entry = JSON.stringify({ level: 40, time: Date.now(), msg: 'w' });

    assert.doesNotMatch(formatEntry(entry, false), /\u001b\[/);
    assert.match(formatEntry(entry, true), /\u001b\[33mWARN/);
  });
});
