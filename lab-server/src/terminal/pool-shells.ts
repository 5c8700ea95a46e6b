// Shells for pooled sandboxes: each terminal of a pooled lab gets its shell as soon as the
// sandbox runs, so a learner who takes the sandbox finds the prompt waiting. Starting a
// `docker exec` costs a few hundred milliseconds on a busy host; here nobody waits for it.
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { SessionManager } from '../sessions/manager.ts';
import type { TerminalRegistry } from './registry.ts';

/** The size a shell starts with before a page gives it its own; attaching resizes it. */
const FIRST_SIZE = { cols: 80, rows: 24 };

export function prestartPoolShells(
  sessions: SessionManager,
  terminals: TerminalRegistry,
  config: Config,
  log: Logger,
): void {
  // A pooled shell waits as long as its sandbox may sit unused, and a minute more for the page.
  const holdMs = (config.poolIdleMinutes + 1) * 60_000;

  sessions.onPoolSandbox((event) => {
    if (event.state === 'removed') {
      void terminals.endSession(event.id, 'The lab session has ended.');
      return;
    }

    for (const terminal of event.lab.terminals) {
      const address = {
        sessionId: event.id,
        terminalId: terminal.id,
        containerId: event.sandbox.containers[terminal.service]!,
      };
      const options = { user: terminal.user, shell: terminal.shell, ...FIRST_SIZE };
      terminals.prestart(address, options, holdMs).catch((error: unknown) => {
        log.warn(
          { poolId: event.id, terminalId: terminal.id, err: error },
          'starting a shell ahead of the learner failed; the page starts one',
        );
      });
    }
  });
}
