// The instructor's API under /api/instructor, every route behind the instructor token: create
// and end trainings, read a training's roster once or as a live stream of server-sent events,
// and extend, reset or end a learner's session.
import express, { type Request, type Response, type Router } from 'express';

import { InvalidRequestError, SessionNotFoundError } from '../errors.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { Session, SessionManager } from '../sessions/manager.ts';
import { formatJoinCode } from '../trainings/join-code.ts';
import { isOpen, type Training } from '../trainings/training-store.ts';
import type { Trainings } from '../trainings/trainings.ts';
import { requireInstructor } from './instructor-auth.ts';

const SESSION_ID = /^[0-9a-f]{16}$/;
const TRAINING_ID = /^[0-9a-f]{16}$/;
/** The roster is sent at most this often while things change, and at least this often anyway. */
const STREAM_DEBOUNCE_MS = 250;
const STREAM_REFRESH_MS = 5_000;

export interface InstructorDeps {
  instructorToken: string;
  trainings: Trainings;
  sessions: SessionManager;
  labs: Map<string, Lab>;
  log: Logger;
  /** Base URLs learners open, for the join link; empty means the request's own origin. */
  roomUrls: string[];
}

export function createInstructorRouter(deps: InstructorDeps): Router {
  const { trainings, sessions } = deps;
  const router = express.Router();
  router.use(requireInstructor(deps.instructorToken));
  router.use(express.json({ limit: '16kb' }));

  router.get('/labs', (_request, response) => {
    response.json(
      [...deps.labs.values()].map((lab) => ({
        id: lab.id,
        title: lab.title,
        minutes: lab.minutes,
        steps: lab.steps.length,
      })),
    );
  });

  router.get('/trainings', (request, response) => {
    response.json(trainings.store.list().map((training) => describe(training, deps, request)));
  });

  router.post('/trainings', (request, response) => {
    const training = trainings.create(request.body ?? {});
    response.status(201).json(describe(training, deps, request));
  });

  router.get('/trainings/:trainingId', (request, response) => {
    const training = trainings.require(
      requireId(request.params.trainingId, TRAINING_ID, 'training id'),
    );
    response.json({ ...describe(training, deps, request), learners: trainings.roster(training) });
  });

  router.get('/trainings/:trainingId/events', (request, response) => {
    const training = trainings.require(
      requireId(request.params.trainingId, TRAINING_ID, 'training id'),
    );
    streamRoster(training.id, deps, request, response);
  });

  router.post('/trainings/:trainingId/end', async (request, response) => {
    const training = await trainings.end(
      requireId(request.params.trainingId, TRAINING_ID, 'training id'),
    );
    response.json(describe(training, deps, request));
  });

  router.post('/sessions/:sessionId/extend', (request, response) => {
    const session = sessions.extend(findSession(sessions, request));
    trainings.changed();
    response.json({ sessionId: session.id, expiresAt: new Date(session.expiresAt).toISOString() });
  });

  router.post('/sessions/:sessionId/reset', async (request, response) => {
    const fresh = await sessions.reset(findSession(sessions, request));
    response
      .status(201)
      .json({ sessionId: fresh.id, expiresAt: new Date(fresh.expiresAt).toISOString() });
  });

  router.post('/sessions/:sessionId/end', async (request, response) => {
    const session = findSession(sessions, request);
    await sessions.end(session.id, 'stopped');
    response.status(204).end();
  });

  return router;
}

function findSession(sessions: SessionManager, request: Request): Session {
  const sessionId = requireId(request.params.sessionId, SESSION_ID, 'session id');
  const session = sessions.get(sessionId);
  if (!session) throw new SessionNotFoundError(sessionId);
  return session;
}

function requireId(value: unknown, pattern: RegExp, name: string): string {
  if (typeof value !== 'string' || !pattern.test(value))
    throw new InvalidRequestError(
      `Invalid ${name} ${JSON.stringify(value)}: expected 16 hexadecimal digits.`,
    );
  return value;
}

function describe(training: Training, deps: InstructorDeps, request: Request) {
  const bases =
    deps.roomUrls.length > 0 ? deps.roomUrls : [`${request.protocol}://${request.get('host')}/`];
  const joinPath = `training/join/?code=${training.joinCode}`;
  return {
    id: training.id,
    name: training.name,
    labs: training.labs.map((id) => ({ id, title: deps.labs.get(id)?.title ?? id })),
    minutes: training.minutes,
    expectedLearners: training.expectedLearners,
    joinCode: formatJoinCode(training.joinCode),
    joinUrls: bases.map((base) => `${base}${joinPath}`),
    createdAt: new Date(training.createdAt).toISOString(),
    endsAt: new Date(training.endsAt).toISOString(),
    endedAt: training.endedAt === null ? null : new Date(training.endedAt).toISOString(),
    open: isOpen(training),
    // Add time extends the learner's lab session by this much, never the training.
    addTimeMinutes: deps.sessions.config.extendMinutes,
  };
}

/**
 * Server-sent events: a `roster` event with every learner whenever something changes (at most
 * every 250 ms) and every 5 s regardless, so time left and connection states stay current.
 */
function streamRoster(
  trainingId: string,
  deps: InstructorDeps,
  request: Request,
  response: Response,
): void {
  response.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  response.flushHeaders();

  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    timer = undefined;
    const training = deps.trainings.store.get(trainingId);
    if (!training) return;
    const payload = {
      ...describe(training, deps, request),
      learners: deps.trainings.roster(training),
    };
    response.write(`event: roster\ndata: ${JSON.stringify(payload)}\n\n`);
  };
  const soon = () => {
    timer ??= setTimeout(send, STREAM_DEBOUNCE_MS);
  };

  send();
  const refresh = setInterval(send, STREAM_REFRESH_MS);
  deps.trainings.changes.on('changed', soon);
  request.on('close', () => {
    clearInterval(refresh);
    clearTimeout(timer);
    deps.trainings.changes.off('changed', soon);
  });
}
