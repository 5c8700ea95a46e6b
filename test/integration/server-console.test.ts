// What the server prints on its console: JSON lines by default when the output is not a
// terminal, one readable line per entry with LAB_LOG_FORMAT=text, and a last line that states
// what the stop removed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance } from '../helpers/lab-server.ts';

describe('server console', () => {
  test('pipe gets JSON lines', async () => {
    const instance = uniqueInstance('console-json');
    try {
      const server = await startLabServer({ instance, env: { LAB_LOG_FORMAT: 'auto' } });
      await server.kill('SIGTERM');

      const entries = logLines(server.output()).map(
        (line) => JSON.parse(line) as { msg: string; sandboxes?: number },
      );
      assert.ok(entries.some((entry) => entry.msg === 'lab server listening'));
      assert.match(
        entries.at(-1)!.msg,
        /^stopped: removed 0 sandboxes \(0 containers, 0 networks\)$/,
      );
      assert.equal(entries.at(-1)!.sandboxes, 0);
    } finally {
      await removeInstance(instance);
    }
  });

  test('text format is readable', async () => {
    const instance = uniqueInstance('console-text');
    try {
      const server = await startLabServer({ instance, env: { LAB_LOG_FORMAT: 'text' } });
      await server.kill('SIGINT');

      const lines = logLines(server.output());
      assert.ok(lines.length > 2);
      for (const line of lines) assert.match(line, /^\d\d:\d\d:\d\d (DEBUG|INFO|WARN|ERROR) /);
      assert.ok(
        lines.some((line) =>
          /INFO  lab server listening url=http:\/\/127\.0\.0\.1:\d+\//.test(line),
        ),
      );
      assert.match(
        lines.at(-1)!,
        /INFO  stopped: removed 0 sandboxes \(0 containers, 0 networks\)/,
      );
      assert.doesNotMatch(server.output(), /"level":/);
    } finally {
      await removeInstance(instance);
    }
  });
});

/** Returns the log's lines, without the banner (its lines start with spaces) and blank lines. */
function logLines(output: string): string[] {
  return output.split('\n').filter((line) => line !== '' && !line.startsWith(' '));
}
