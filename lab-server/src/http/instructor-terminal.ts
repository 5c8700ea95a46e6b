// The WebSocket of a read-only terminal view for the instructor:
//   GET /ws/instructor/sessions/<sessionId>/terminals/<terminalId>
//   Sec-WebSocket-Protocol: ddev-lab.v1, ddev-lab.instructor.<instructor token>
// The same frames as a learner's terminal, but the server only sends: see read-only-viewer.ts.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';

import { InvalidRequestError, SessionNotFoundError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SessionManager } from '../sessions/manager.ts';
import type { TerminalRegistry } from '../terminal/registry.ts';
import { InstructorUnauthorizedError, instructorTokenMatches } from './instructor-auth.ts';

export const VIEWER_PATH =
  /^\/ws\/instructor\/sessions\/([0-9a-f]{16})\/terminals\/([a-z0-9][a-z0-9-]{0,62})$/;
const INSTRUCTOR_SUBPROTOCOL_PREFIX = 'ddev-lab.instructor.';

export interface ViewerUpgrade {
  request: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  match: RegExpExecArray;
}

/** Checks the instructor token, finds the learner's terminal and opens a read-only view of it. */
export async function upgradeViewer(
  deps: {
    sessions: SessionManager;
    terminals: TerminalRegistry;
    sockets: WebSocketServer;
    log: Logger;
    instructorToken: string;
    onOpen?: () => void;
  },
  upgrade: ViewerUpgrade,
): Promise<void> {
  const { request, socket, head, match } = upgrade;
  if (!instructorTokenMatches(deps.instructorToken, tokenFromProtocols(request)))
    throw new InstructorUnauthorizedError();

  const [, sessionId, terminalId] = match as unknown as [string, string, string];
  const session = deps.sessions.get(sessionId);
  if (!session) throw new SessionNotFoundError(sessionId);
  const terminal = deps.sessions
    .lab(session)
    .terminals.find((candidate) => candidate.id === terminalId);
  if (!terminal)
    throw new InvalidRequestError(`Lab "${session.labId}" has no terminal "${terminalId}".`);

  const address = {
    sessionId,
    terminalId,
    containerId: session.sandbox.containers[terminal.service]!,
  };
  deps.sockets.handleUpgrade(request, socket, head, (webSocket) => {
    const log = deps.log.child({ sessionId, labId: session.labId, terminalId, viewer: true });
    deps.onOpen?.();
    deps.terminals
      .watch(
        address,
        { user: terminal.user, shell: terminal.shell, cols: 80, rows: 24 },
        webSocket,
        log,
      )
      .catch((error: unknown) => {
        log.error({ err: error }, 'opening a read-only view failed');
        webSocket.close(1011, 'error');
      });
  });
}

function tokenFromProtocols(request: IncomingMessage): string | undefined {
  const header = request.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return undefined;
  const entry = header
    .split(',')
    .map((value) => value.trim())
    .find((value) => value.startsWith(INSTRUCTOR_SUBPROTOCOL_PREFIX));
  return entry?.slice(INSTRUCTOR_SUBPROTOCOL_PREFIX.length);
}
