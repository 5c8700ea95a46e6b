// What ending a shell logs when its exec cannot be ended. A container that a web-build Restart is
// removing gives a debug line without a stack. Any other failure stays a warning with the error.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';

import { isContainerGoing, TerminalShell } from '../../lab-server/src/terminal/shell.ts';

/** Builds the error dockerode raises for an exec in a container that Docker 20.10 is removing. */
function removalInProgress(): Error {
  const id = 'a'.repeat(64);
  return Object.assign(
    new Error(
      `(HTTP code 500) container not running - Container ${id} is not running: Removal In Progress`,
    ),
    { statusCode: 500 },
  );
}

async function disposeFailingWith(error: Error): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const shell = new TerminalShell({
    process: {
      stream: new PassThrough(),
      resize: async () => undefined,
      dispose: async () => Promise.reject(error),
    },
    settings: { graceMs: 60_000, bufferBytes: 256 * 1024 },
    log,
    onDisposed: () => undefined,
  });

  await shell.dispose('closed', 'test');
  return lines;
}

describe('shell dispose logging', () => {
  test('removal in progress is debug', async () => {
    const lines = await disposeFailingWith(removalInProgress());

    const entry = lines.at(-1)!;
    assert.equal(entry.level, 20);
    assert.equal(entry.err, undefined);
    assert.match(String(entry.reason), /Removal In Progress/);
  });

  test('other failures stay warnings', async () => {
    const lines = await disposeFailingWith(
      Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), {
        code: 'ECONNREFUSED',
      }),
    );

    const entry = lines.at(-1)!;
    assert.equal(entry.level, 40);
    assert.match(String((entry.err as { stack?: string }).stack), /ECONNREFUSED/);
  });

  test('gone containers are recognised', () => {
    assert.equal(
      isContainerGoing(Object.assign(new Error('no such container'), { statusCode: 404 })),
      true,
    );
    assert.equal(
      isContainerGoing(Object.assign(new Error('Container x is not running'), { statusCode: 409 })),
      true,
    );
    assert.equal(isContainerGoing(removalInProgress()), true);
    assert.equal(
      isContainerGoing(Object.assign(new Error('server error'), { statusCode: 500 })),
      false,
    );
    assert.equal(isContainerGoing(undefined), false);
  });
});
