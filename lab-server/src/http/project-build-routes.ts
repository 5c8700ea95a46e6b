// Restart for a lab project, under /api: rebuilds the web image from the project's .ddev/web-build
// and recreates the web container, streaming progress as newline-delimited JSON. Session routes
// need the session's token in `Authorization: Bearer`, as in api.ts.
import express, { type Request, type Response, type Router } from 'express';

import type { Config } from '../config.ts';
import { InvalidRequestError, LabError } from '../errors.ts';
import {
  DEBIAN_RELEASES,
  DEFAULT_RELEASE,
  IMAGE_NAMES,
  debianSlimTag,
  imageTag,
} from '../images/catalog.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import { BuildBusyError, BuildCapacityError } from '../project-build/errors.ts';
import {
  previewProjectBuild,
  rebuildProject,
  type RebuildEvent,
  type RebuildRequest,
} from '../project-build/rebuild.ts';
import { LABELS } from '../sandbox/labels.ts';
import {
  openProjectBuildEngine,
  type ProjectBuildEngine,
} from '../sandbox/project-build-engine.ts';
import type { SandboxRuntime } from '../sandbox/runtime.ts';
import type { Session, SessionManager } from '../sessions/manager.ts';

const SESSION_ID = /^[0-9a-f]{16}$/;

// Builds run apt-get and can take minutes; these caps keep a room's builds from starving the host.
const MAX_CONCURRENT_BUILDS = 2;
const BUILD_TIMEOUT_SECONDS = 600;
const START_TIMEOUT_SECONDS = 90;
// Output sent to the page per Restart, in lines and in bytes; apt-get can print thousands of
// lines, and a step can print without end. Past either, the lines are left out with a note.
const MAX_STREAMED_LINES = 2000;
const MAX_STREAMED_BYTES = 1024 * 1024;

export interface ProjectBuildDeps {
  config: Config;
  labs: Map<string, Lab>;
  sessions: SessionManager;
  runtime: SandboxRuntime;
  log: Logger;
}

export function createProjectBuildRouter(
  deps: ProjectBuildDeps,
  engine: ProjectBuildEngine = openProjectBuildEngine(undefined, undefined, {
    range: deps.config.subnetPool,
    prefix: deps.config.subnetPrefix,
  }),
): Router {
  const router = express.Router();
  const building = new Set<string>();
  const ended = new Set<string>();

  removeLeftoverImages(deps, engine);
  deps.sessions.onEnd((sessionId) => {
    if (building.has(sessionId)) ended.add(sessionId);
    void removeSessionImages(deps, engine, sessionId);
  });

  router.get('/sessions/:sessionId/restart/dockerfile', async (request, response) => {
    const session = authorize(request, deps.sessions);
    const preview = await previewProjectBuild(
      engine,
      rebuildRequest(deps, session, () => {}),
    );
    response.json(preview);
  });

  router.post('/sessions/:sessionId/restart', async (request, response) => {
    const session = authorize(request, deps.sessions);
    if (building.has(session.id)) {
      throw new BuildBusyError(
        'A Restart of this session is still running. Wait for it to finish, then try again.',
      );
    }
    if (building.size >= MAX_CONCURRENT_BUILDS) throw new BuildCapacityError(MAX_CONCURRENT_BUILDS);

    building.add(session.id);
    try {
      await streamRestart(deps, engine, session, response);
    } finally {
      building.delete(session.id);
      if (ended.delete(session.id)) await removeSessionImages(deps, engine, session.id);
    }
  });

  return router;
}

async function streamRestart(
  deps: ProjectBuildDeps,
  engine: ProjectBuildEngine,
  session: Session,
  response: Response,
) {
  const log = deps.log.child({ sessionId: session.id, labId: session.labId });
  response.status(200).type('application/x-ndjson');
  response.setHeader('cache-control', 'no-store');
  response.flushHeaders();

  let lines = 0;
  let bytes = 0;
  let cut = false;
  const send = (event: RebuildEvent | Record<string, unknown>) => {
    if (response.writableEnded) return;
    const text = `${JSON.stringify(event)}\n`;
    if (event.type === 'line') {
      if (cut) return;
      lines += 1;
      bytes += text.length;
      if (lines > MAX_STREAMED_LINES || bytes > MAX_STREAMED_BYTES) {
        cut = true;
        const note = `[output cut: a Restart shows the first ${MAX_STREAMED_LINES} lines or ${MAX_STREAMED_BYTES / 1024 / 1024} MiB of the build's output]`;
        response.write(`${JSON.stringify({ type: 'line', line: note })}\n`);
        return;
      }
    }
    response.write(text);
  };

  const started = performance.now();
  log.info('restart started');
  try {
    const request = rebuildRequest(deps, session, send);
    const result = await rebuildProject(engine, { ...request, onEvent: send });
    session.sandbox.containers[request.service] = result.containerId;

    const seconds = Math.round((performance.now() - started) / 100) / 10;
    log.info({ containerId: result.containerId, tag: result.tag, seconds }, 'restart finished');
    send({
      type: 'done',
      tag: result.tag,
      imageId: result.imageId,
      layers: result.layers,
      seconds,
    });
  } catch (error) {
    // The status line is sent already, so the error travels in the stream as its last event.
    if (error instanceof LabError) {
      log.warn({ err: error }, 'restart failed');
      send({ type: 'error', status: error.status, ...error.toJSON() });
    } else {
      log.error({ err: error }, 'restart failed unexpectedly');
      send({
        type: 'error',
        status: 500,
        error: 'InternalError',
        message: 'The Restart failed on the server. Try again.',
      });
    }
  } finally {
    response.end();
  }
}

function rebuildRequest(
  deps: ProjectBuildDeps,
  session: Session,
  onEvent: (event: RebuildEvent) => void,
): RebuildRequest {
  const lab = deps.sessions.lab(session);
  // The service the lab declares for its project build; older labs get their first webserver service.
  const declared = lab.projectBuild?.service;
  const web = Object.entries(lab.services).find(([name, service]) =>
    declared ? name === declared : service.image === 'webserver',
  );
  if (!web)
    throw new InvalidRequestError(
      `Lab "${lab.id}" has no web service, so it has no image to rebuild.`,
    );

  const [service, spec] = web;
  return {
    instance: deps.config.instance,
    sessionId: session.id,
    labId: lab.id,
    service,
    containerId: session.sandbox.containers[service]!,
    baseImage: imageTag(spec.image, DEFAULT_RELEASE),
    release: DEFAULT_RELEASE,
    allowedImages: allowedImages(),
    // The sandboxes' limits; the disk quota bounds what one build may add in all.
    limits: {
      memoryBytes: deps.config.containerMemoryMb * 1024 * 1024,
      nanoCpus: Math.round(deps.config.containerCpus * 1e9),
      pids: deps.config.containerPids,
      diskBytes: deps.config.containerDiskMb * 1024 * 1024,
      timeoutSeconds: BUILD_TIMEOUT_SECONDS,
    },
    egress: lab.projectBuild?.egress ?? false,
    startTimeoutSeconds: START_TIMEOUT_SECONDS,
    onEvent,
  };
}

/** Lists the teaching images and their Debian bases, the only images a fragment may name. */
function allowedImages(): string[] {
  return DEBIAN_RELEASES.flatMap((release) => [
    debianSlimTag(release),
    ...IMAGE_NAMES.map((name) => imageTag(name, release)),
  ]);
}

/**
 * Removes what builds of an earlier run left: the containers of steps it was running when it
 * stopped (no build runs yet in this one), then the images it built.
 */
function removeLeftoverImages(deps: ProjectBuildDeps, engine: ProjectBuildEngine): void {
  const labels = {
    [LABELS.managed]: 'true',
    [LABELS.instance]: deps.config.instance,
    [LABELS.session]: '',
  };
  Promise.resolve(engine.removeBuildContainers?.(deps.config.instance))
    .then((containers) => {
      if (containers)
        deps.log.info({ containers }, 'removed build step containers left by an earlier run');
      return engine.removeImages(labels);
    })
    .then((count) => {
      if (count > 0)
        deps.log.info({ images: count }, 'removed built images left by an earlier run');
    })
    .catch((error: unknown) =>
      deps.log.error({ err: error }, 'removing leftover built images failed'),
    );
}

async function removeSessionImages(
  deps: ProjectBuildDeps,
  engine: ProjectBuildEngine,
  sessionId: string,
): Promise<void> {
  const labels = {
    [LABELS.managed]: 'true',
    [LABELS.instance]: deps.config.instance,
    [LABELS.session]: sessionId,
  };
  try {
    const count = await engine.removeImages(labels);
    if (count > 0) deps.log.info({ sessionId, images: count }, 'built images removed');
  } catch (error) {
    deps.log.error({ sessionId, err: error }, 'removing built images failed');
  }
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
