// The REST API under /api. Session routes need the session's token in `Authorization: Bearer`.
import express, { type Request, type Router } from 'express';

import type { Config } from '../config.ts';
import { InvalidRequestError, LabNotFoundError } from '../errors.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { SandboxRuntime } from '../sandbox/runtime.ts';
import type { Session, SessionManager } from '../sessions/manager.ts';
import { runCheck } from '../sessions/checks.ts';

const SESSION_ID = /^[0-9a-f]{16}$/;
const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function createApiRouter(deps: {
  config: Config;
  labs: Map<string, Lab>;
  sessions: SessionManager;
  runtime: SandboxRuntime;
  log: Logger;
}): Router {
  const { labs, sessions } = deps;
  const router = express.Router();
  router.use(express.json({ limit: '16kb' }));

  router.get('/health', (_request, response) => {
    response.json({ status: 'ok', sessions: sessions.size });
  });

  router.get('/labs', (_request, response) => {
    response.json([...labs.values()].map((lab) => ({ id: lab.id, title: lab.title, summary: lab.summary, minutes: lab.minutes })));
  });

  router.post('/sessions', async (request, response) => {
    const labId = requireSlug(request.body?.labId, 'labId');
    if (!labs.has(labId)) throw new LabNotFoundError(labId);

    const session = await sessions.create(labId);
    response.status(201).json(describeSession(session, sessions.lab(session), true));
  });

  router.get('/sessions/:sessionId', (request, response) => {
    const session = authorize(request, sessions);
    response.json(describeSession(session, sessions.lab(session), false));
  });

  router.delete('/sessions/:sessionId', async (request, response) => {
    const session = authorize(request, sessions);
    await sessions.end(session.id, 'stopped');
    response.status(204).end();
  });

  router.post('/sessions/:sessionId/steps/:stepId/check', async (request, response) => {
    const session = authorize(request, sessions);
    const stepId = requireSlug(request.params.stepId, 'stepId');
    const result = await runCheck(deps.runtime, deps.config, session, sessions.lab(session), stepId, deps.log);
    response.json(result);
  });

  return router;
}

function authorize(request: Request, sessions: SessionManager): Session {
  const sessionId = String(request.params.sessionId);
  if (!SESSION_ID.test(sessionId)) {
    throw new InvalidRequestError(`Invalid session id "${sessionId.slice(0, 40)}": expected 16 hexadecimal digits.`);
  }

  const header = request.get('authorization') ?? '';
  const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
  return sessions.authorize(sessionId, token);
}

function requireSlug(value: unknown, name: string): string {
  if (typeof value !== 'string' || !SLUG.test(value)) {
    throw new InvalidRequestError(`Invalid ${name} ${JSON.stringify(value)}: expected lower-case letters, digits and dashes.`);
  }
  return value;
}

function describeSession(session: Session, lab: Lab, includeToken: boolean) {
  return {
    sessionId: session.id,
    labId: session.labId,
    expiresAt: new Date(session.expiresAt).toISOString(),
    terminals: lab.terminals.map((terminal) => ({ id: terminal.id, title: terminal.title })),
    ...(includeToken ? { token: session.token } : {}),
  };
}
