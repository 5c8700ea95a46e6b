// The REST API under /api. Session routes need the session's token in `Authorization: Bearer`,
// except the web proxy, which also takes it from its cookie. The learner cookie names the
// anonymous learner whose progress the routes read and write.
import express, { type Request, type Response, type Router } from 'express';

import type { Config } from '../config.ts';
import { InvalidRequestError, LabNotFoundError } from '../errors.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { LabMetrics } from '../metrics/metrics.ts';
import type { SandboxRuntime } from '../sandbox/runtime.ts';
import { checkStep, restartStep } from '../sessions/checks.ts';
import type { Session, SessionManager } from '../sessions/manager.ts';
import { ClientSessionCap } from './client-session-cap.ts';
import { clientAddress } from './client-address.ts';
import { learnerOf, setWebCookie, webPathOf } from './cookies.ts';
import { createWebProxy } from './web-proxy.ts';

const SESSION_ID = /^[0-9a-f]{16}$/;
const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function createApiRouter(deps: {
  config: Config;
  labs: Map<string, Lab>;
  sessions: SessionManager;
  runtime: SandboxRuntime;
  log: Logger;
  /** The room's metrics and dashboard, told about starts and checks, and who is in a training. */
  room?: {
    metrics: LabMetrics;
    trainings: { changed(): void; isTrainingLearner(learnerId: string): boolean };
  };
}): Router {
  const { labs, sessions } = deps;
  const router = express.Router();
  const cap = clientSessionCap(deps.config);
  sessions.onEnd((sessionId) => cap.release(sessionId));
  // Before the JSON parser, so that proxied request bodies stream through untouched.
  router.use(createWebProxy(sessions, deps.log));
  router.use(express.json({ limit: '16kb' }));

  router.get('/health', (_request, response) => {
    response.json({ status: 'ok', sessions: sessions.size });
  });

  router.get('/labs', (_request, response) => {
    response.json(
      [...labs.values()].map((lab) => ({
        id: lab.id,
        title: lab.title,
        summary: lab.summary,
        minutes: lab.minutes,
      })),
    );
  });

  router.get('/labs/:labId/progress', (request, response) => {
    const labId = requireLab(labs, request.params.labId);
    const learnerId = learnerOf(request, response);
    const running = sessions.findForLearner(learnerId, labId);

    response.json({
      labId,
      passedSteps: sessions.store.passedSteps(learnerId, labId),
      hints: earnedHints(sessions, learnerId, labs.get(labId)!),
      session: running ? describeSession(running, sessions, response) : null,
    });
  });

  router.post('/sessions', async (request, response) => {
    const labId = requireLab(labs, request.body?.labId);
    const learnerId = learnerOf(request, response);

    const requestedAt = Date.now();
    const start = () => sessions.create(labId, learnerId);
    // A training's learners share the room's address; LAB_SESSIONS_PER_LEARNER and
    // LAB_MAX_SESSIONS bound them. A learner's running session of this lab takes no new slot.
    const exempt =
      deps.room?.trainings.isTrainingLearner(learnerId) === true ||
      sessions.findForLearner(learnerId, labId) !== undefined;
    const session = exempt
      ? await start()
      : await cap.admit(clientAddress(request), start, (id) => sessions.get(id) !== undefined);
    deps.room?.metrics.startRequested(session, requestedAt);
    response.status(201).json(describeSession(session, sessions, response));
  });

  router.get('/sessions/:sessionId', (request, response) => {
    const session = authorize(request, sessions);
    response.json(describeSession(session, sessions, response));
  });

  router.delete('/sessions/:sessionId', async (request, response) => {
    const session = authorize(request, sessions);
    await sessions.end(session.id, 'stopped');
    response.status(204).end();
  });

  router.post('/sessions/:sessionId/heartbeat', (request, response) => {
    const session = authorize(request, sessions);
    sessions.heartbeat(session, request.body?.active === true);
    response.json(timesOf(session));
  });

  router.post('/sessions/:sessionId/extend', (request, response) => {
    const session = authorize(request, sessions);
    response.json(timesOf(sessions.extend(session)));
  });

  router.post('/sessions/:sessionId/reset', async (request, response) => {
    const session = authorize(request, sessions);
    // A reset replaces the session and keeps its slot; the cap never refuses it.
    const holder = cap.holderOf(session.id);
    const fresh = await sessions.reset(session);
    if (holder !== undefined) cap.hold(fresh.id, holder);
    response.status(201).json(describeSession(fresh, sessions, response));
  });

  router.post('/sessions/:sessionId/steps/:stepId/check', async (request, response) => {
    const session = authorize(request, sessions);
    const stepId = requireSlug(request.params.stepId, 'stepId');
    const result = await checkStep(sessions, session, stepId, {
      wait: request.body?.wait === true,
    });
    deps.room?.metrics.checks.inc({ result: result.passed ? 'passed' : 'failed' });
    deps.room?.trainings.changed();
    response.json(result);
  });

  router.post('/sessions/:sessionId/steps/:stepId/restart', async (request, response) => {
    const session = authorize(request, sessions);
    const stepId = requireSlug(request.params.stepId, 'stepId');
    response.json({ passedSteps: await restartStep(sessions, session, stepId) });
    deps.room?.trainings.changed();
  });

  return router;
}

function clientSessionCap(config: Config): ClientSessionCap {
  const endsOnItsOwn =
    `when their page has been closed for ${config.closedGraceSeconds} seconds, after ${config.idleMinutes} minutes without activity, ` +
    `and at the latest ${config.sessionMaxMinutes} minutes after they start`;
  return new ClientSessionCap({ limit: config.sessionsPerClient, endsOnItsOwn });
}

function authorize(request: Request, sessions: SessionManager): Session {
  const sessionId = String(request.params.sessionId);
  if (!SESSION_ID.test(sessionId)) {
    throw new InvalidRequestError(
      `Invalid session id "${sessionId.slice(0, 40)}": expected 16 hexadecimal digits.`,
    );
  }

  const header = request.get('authorization') ?? '';
  const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
  return sessions.authorize(sessionId, token);
}

function requireSlug(value: unknown, name: string): string {
  if (typeof value !== 'string' || !SLUG.test(value)) {
    throw new InvalidRequestError(
      `Invalid ${name} ${JSON.stringify(value)}: expected lower-case letters, digits and dashes.`,
    );
  }
  return value;
}

function requireLab(labs: Map<string, Lab>, value: unknown): string {
  const labId = requireSlug(value, 'labId');
  if (!labs.has(labId)) throw new LabNotFoundError(labId);
  return labId;
}

function timesOf(session: Session) {
  return {
    expiresAt: new Date(session.expiresAt).toISOString(),
    maxExpiresAt: new Date(session.maxExpiresAt).toISOString(),
  };
}

/** Hints the learner has earned in each step of a lab, by step id. */
function earnedHints(
  sessions: SessionManager,
  learnerId: string,
  lab: Lab,
): Record<string, string[]> {
  const failures = sessions.store.failures(learnerId, lab.id);
  return Object.fromEntries(
    lab.steps.map((step) => [
      step.id,
      step.hints
        .filter((hint) => (failures[step.id] ?? 0) >= hint.afterFailures)
        .map((hint) => hint.text),
    ]),
  );
}

/** Describes a session for its own learner, token included, and renews the web proxy's cookie. */
function describeSession(session: Session, sessions: SessionManager, response: Response) {
  const lab = sessions.lab(session);
  setWebCookie(response, session.id, session.token, (session.maxExpiresAt - Date.now()) / 1000);

  return {
    sessionId: session.id,
    labId: session.labId,
    token: session.token,
    ...timesOf(session),
    terminals: lab.terminals.map((terminal) => ({ id: terminal.id, title: terminal.title })),
    web: lab.web.map((entry) => ({
      id: entry.id,
      title: entry.title,
      url: `${webPathOf(session.id)}${entry.id}${entry.path}`,
    })),
    passedSteps: sessions.store.passedSteps(session.learnerId, session.labId),
  };
}
