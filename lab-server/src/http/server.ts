// The HTTP server: the built site, the REST API and the terminal WebSocket on one port, with one
// final error handler for HTTP requests and one for WebSocket upgrades.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import { WebSocketServer, type WebSocket } from 'ws';

import type { Config } from '../config.ts';
import { InvalidRequestError, LabError, UnauthorizedError } from '../errors.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { LabMetrics } from '../metrics/metrics.ts';
import type { SandboxRuntime } from '../sandbox/runtime.ts';
import type { Session, SessionManager } from '../sessions/manager.ts';
import { SHELL_ID_PATTERN } from '../terminal/protocol.ts';
import { prestartPoolShells } from '../terminal/pool-shells.ts';
import { TerminalRegistry } from '../terminal/registry.ts';
import type { Trainings } from '../trainings/trainings.ts';
import { createApiRouter } from './api.ts';
import { createHostCheck, misdirected } from './host-check.ts';
import { requireInstructor } from './instructor-auth.ts';
import { createInstructorRouter } from './instructor-routes.ts';
import { upgradeViewer, VIEWER_PATH } from './instructor-terminal.ts';
import { createTrainingRouter } from './training-routes.ts';
import { createProjectBuildRouter } from './project-build-routes.ts';
import { sessionRateLimit } from './session-rate-limit.ts';

export const TERMINAL_SUBPROTOCOL = 'ddev-lab.v1';
const TOKEN_SUBPROTOCOL_PREFIX = 'ddev-lab.token.';
const TERMINAL_PATH = /^\/ws\/sessions\/([0-9a-f]{16})\/terminals\/([a-z0-9][a-z0-9-]{0,62})$/;
const MAX_MESSAGE_BYTES = 64 * 1024;

export interface Deps {
  config: Config;
  labs: Map<string, Lab>;
  sessions: SessionManager;
  runtime: SandboxRuntime;
  log: Logger;
  /** Set when SIGTERM or SIGINT arrives, so that no new request starts work. */
  shutdown?: { stopping: boolean };
  /** Room features: trainings, the instructor's routes and /metrics; absent in some unit tests. */
  room?: RoomDeps;
}

export interface RoomDeps {
  trainings: Trainings;
  metrics: LabMetrics;
  instructorToken: string;
  /** Base URLs learners open, when the server listens on the network. */
  roomUrls: string[];
  /** Set by the server: the live terminal shells, for the metrics. */
  terminalCount: () => number;
}

export function createHttpServer(deps: Deps): Server {
  const app = express();
  app.disable('x-powered-by');
  // Only the listed proxies' X-Forwarded-For counts; with none, the connection's peer is the client.
  app.set('trust proxy', deps.config.trustProxy.length > 0 ? deps.config.trustProxy : false);
  const hostAllowed = createHostCheck(deps.config);
  app.use((request, _response, next) => {
    if (!hostAllowed(request.headers.host)) next(misdirected(request.headers.host ?? ''));
    else next();
  });
  app.use((_request, _response, next) => {
    if (deps.shutdown?.stopping)
      next(
        new LabError(
          'ShuttingDown',
          503,
          'The lab server is shutting down. Try again when it is back.',
        ),
      );
    else next();
  });
  app.post('/api/sessions', sessionRateLimit(deps.config.sessionsPerClientPerMinute));
  if (deps.room) mountRoom(app, deps, deps.room);
  app.use('/api', createApiRouter(deps));
  app.use('/api', createProjectBuildRouter(deps));
  app.use('/api', (_request, _response, next) =>
    next(new LabError('NotFound', 404, 'No such API route.')),
  );
  app.use(express.static(path.resolve(deps.config.siteDir), { redirect: true }));
  app.use((request, response) => {
    response.status(404).sendFile(path.resolve(deps.config.siteDir, '404.html'), (error) => {
      if (error) response.status(404).type('text').send(`Not found: ${request.path}`);
    });
  });
  app.use(createErrorHandler(deps.log));

  const server = createServer(app);
  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    handleProtocols: (protocols) =>
      protocols.has(TERMINAL_SUBPROTOCOL) ? TERMINAL_SUBPROTOCOL : false,
  });

  const terminals = createTerminalRegistry(deps);
  server.on('upgrade', (request, socket, head) => {
    if (!hostAllowed(request.headers.host)) {
      rejectUpgrade(deps.log, socket, misdirected(request.headers.host ?? ''));
      return;
    }
    handleUpgrade({ ...deps, hostAllowed }, terminals, sockets, request, socket, head).catch(
      (error) => rejectUpgrade(deps.log, socket, error),
    );
  });
  return server;
}

/** The instructor's API, the learners' training routes and the metrics, all before the API's 404. */
function mountRoom(app: express.Express, deps: Deps, room: RoomDeps): void {
  app.get('/metrics', requireInstructor(room.instructorToken), async (_request, response) => {
    const { contentType, body } = await room.metrics.render();
    response.type(contentType).send(body);
  });
  app.use(
    '/api/instructor',
    createInstructorRouter({ ...room, sessions: deps.sessions, labs: deps.labs, log: deps.log }),
  );
  // A join code has about 244 million values; 120 tries a minute per address makes guessing one
  // take years, while a room behind one NAT address still joins within a minute or two.
  app.post('/api/trainings/join', sessionRateLimit(120, 'join attempts'));
  app.use('/api/trainings', createTrainingRouter({ trainings: room.trainings, labs: deps.labs }));

  // A Restart rebuilds the project's image: its duration is the build's, to the second.
  app.post('/api/sessions/:sessionId/restart', (_request, response, next) => {
    const started = process.hrtime.bigint();
    response.once('finish', () => {
      if (response.statusCode < 300)
        room.metrics.buildDuration.observe(
          { target: 'project' },
          Number(process.hrtime.bigint() - started) / 1e9,
        );
    });
    next();
  });
}

/** The terminals' shells outlive their sockets, but not their session. */
function createTerminalRegistry(deps: Deps): TerminalRegistry {
  const terminals = new TerminalRegistry({
    runtime: deps.runtime,
    log: deps.log,
    onFlowPause: () => deps.room?.metrics.flowPauses.inc(),
    settings: {
      graceMs: deps.config.terminalGraceSeconds * 1000,
      bufferBytes: deps.config.terminalBufferKb * 1024,
      pingMs: deps.config.terminalPingSeconds * 1000,
    },
  });
  deps.sessions.onEnd(
    (sessionId) => void terminals.endSession(sessionId, 'The lab session has ended.'),
  );
  prestartPoolShells(deps.sessions, terminals, deps.config, deps.log);
  if (deps.room) deps.room.terminalCount = () => terminals.size;
  return terminals;
}

async function handleUpgrade(
  deps: Deps & { hostAllowed: (header: string | undefined) => boolean },
  terminals: TerminalRegistry,
  sockets: WebSocketServer,
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const viewer = VIEWER_PATH.exec(url.pathname);
  if (viewer && deps.room) {
    checkOrigin(deps.config, request, deps.hostAllowed);
    const metrics = deps.room.metrics;
    const context = {
      ...deps,
      ...deps.room,
      terminals,
      sockets,
      onOpen: () => metrics.readOnlyViewers.inc(),
    };
    await upgradeViewer(context, { request, socket, head, match: viewer });
    return;
  }

  const match = TERMINAL_PATH.exec(url.pathname);
  if (!match) throw new LabError('NotFound', 404, 'No WebSocket endpoint at this path.');

  checkOrigin(deps.config, request, deps.hostAllowed);

  const [, sessionId, terminalId] = match as unknown as [string, string, string];
  const session = deps.sessions.authorize(sessionId, tokenFromProtocols(request));
  const terminal = deps.sessions
    .lab(session)
    .terminals.find((candidate) => candidate.id === terminalId);
  if (!terminal)
    throw new InvalidRequestError(`Lab "${session.labId}" has no terminal "${terminalId}".`);

  const cols = clampSize(url.searchParams.get('cols'), 80);
  const rows = clampSize(url.searchParams.get('rows'), 24);
  const resume = resumeRequest(url.searchParams);
  const containerId = session.sandbox.containers[terminal.service]!;
  const shell = await terminals.shellFor(
    { sessionId, terminalId, containerId },
    { user: terminal.user, shell: terminal.shell, cols, rows },
  );

  // A shell without a page ends after the grace period, so a failed handshake leaks nothing.
  sockets.handleUpgrade(request, socket, head, (webSocket) => {
    const log = deps.log.child({ sessionId, labId: session.labId, terminalId });
    terminals.attach(shell, webSocket, { ...resume, cols, rows }, log);
    if (deps.room) countAttach(deps.room, session, resume.shellId === shell.id, webSocket);
  });
}

/** Feeds the metrics and the dashboard's "connected" from one terminal socket's life. */
function countAttach(
  room: RoomDeps,
  session: Session,
  resumed: boolean,
  webSocket: WebSocket,
): void {
  if (resumed) room.metrics.reconnects.inc();
  room.metrics.terminalAttached(session);

  room.trainings.terminalAttached(session.id, 1);
  webSocket.once('close', () => room.trainings.terminalAttached(session.id, -1));
}

/** Reads `shell` and `offset`, which a reconnecting page sends; malformed values count as absent. */
function resumeRequest(params: URLSearchParams): { shellId?: string; offset?: number } {
  const shellId = params.get('shell') ?? '';
  const offset = Number(params.get('offset'));
  if (!SHELL_ID_PATTERN.test(shellId) || !Number.isSafeInteger(offset) || offset < 0) return {};
  return { shellId, offset };
}

/**
 * Accepts the page's own origin and the configured extra origins. The page's own origin is the
 * Host it was served from only when that Host is one of this server's names, so a name of
 * someone else's never counts as this server's own.
 */
function checkOrigin(
  config: Config,
  request: IncomingMessage,
  hostAllowed: (header: string | undefined) => boolean,
): void {
  const origin = request.headers.origin;
  const host = request.headers.host;
  if (!origin) return;

  const own = host && hostAllowed(host) ? [`http://${host}`, `https://${host}`] : [];
  if (own.includes(origin) || config.allowedOrigins.includes(origin)) return;
  throw new LabError(
    'ForbiddenOrigin',
    403,
    `Origin ${origin} may not open terminals on this server.`,
  );
}

function tokenFromProtocols(request: IncomingMessage): string | undefined {
  const header = request.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') throw new UnauthorizedError();

  const entry = header
    .split(',')
    .map((value) => value.trim())
    .find((value) => value.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
  return entry?.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
}

function clampSize(value: string | null, fallback: number): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) return fallback;
  return Math.min(parsed, 1000);
}

function rejectUpgrade(log: Logger, socket: Duplex, error: unknown): void {
  const known = error instanceof LabError;
  if (!known) log.error({ err: error }, 'WebSocket upgrade failed');

  const status = known ? error.status : 500;
  const body = JSON.stringify(
    known ? error.toJSON() : { error: 'Internal', message: 'The terminal could not be opened.' },
  );
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function createErrorHandler(log: Logger) {
  return (error: unknown, request: Request, response: Response, _next: NextFunction) => {
    if (error instanceof LabError) {
      if (error.status >= 500) log.warn({ err: error, path: request.path }, 'request failed');
      if ('retryAfterSeconds' in error)
        response.set('Retry-After', String(error.retryAfterSeconds));
      response.status(error.status).json(error.toJSON());
      return;
    }

    const status = (error as { status?: number; type?: string }).status;
    if (status && status >= 400 && status < 500) {
      response.status(status).json({
        error: 'InvalidRequest',
        message: `The request was rejected: ${(error as Error).message}.`,
      });
      return;
    }

    log.error({ err: error, path: request.path }, 'request failed');
    response.status(500).json({
      error: 'Internal',
      message: 'The lab server failed on this request. Its log has the details.',
    });
  };
}

function statusText(status: number): string {
  return (
    {
      400: 'Bad Request',
      401: 'Unauthorized',
      403: 'Forbidden',
      404: 'Not Found',
      421: 'Misdirected Request',
      503: 'Service Unavailable',
    }[status] ?? 'Error'
  );
}
