// What `npm start` adds for a training room: the instructor token, the trainings, the metrics,
// and the addresses learners open. Listening on every address opens the server to the room;
// the instructor routes need the token either way.
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';

import type { Config } from '../config.ts';
import type { RoomDeps } from '../http/server.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import { LabMetrics } from '../metrics/metrics.ts';
import type { SessionManager } from '../sessions/manager.ts';
import { TrainingStore } from './training-store.ts';
import { Trainings } from './trainings.ts';

export interface Room extends RoomDeps {
  /** True when the token was made at this start, so it must be printed to be known. */
  tokenGenerated: boolean;
}

export function openRoom(options: {
  config: Config;
  labs: Map<string, Lab>;
  sessions: SessionManager;
  log: Logger;
}): Room {
  const { config, sessions } = options;
  const trainings = new Trainings({
    store: new TrainingStore(sessions.store.connection),
    sessions,
    labs: options.labs,
    log: options.log,
  });
  let terminalCount = () => 0;
  const metrics = new LabMetrics({
    sessions: () => sessions.size,
    terminals: () => room.terminalCount(),
    trainings: () => trainings.openCount().trainings,
    learners: () => trainings.openCount().learners,
  });
  sessions.metrics = metrics;
  sessions.onStart((session, how) => metrics.sessionsStarted.inc({ lab: session.labId, how }));

  const room: Room = {
    trainings,
    metrics,
    instructorToken: config.instructorToken ?? randomBytes(24).toString('base64url'),
    tokenGenerated: config.instructorToken === undefined,
    roomUrls: [],
    terminalCount,
  };
  return room;
}

/** True for an address that listens on every interface. */
export function listensOnAll(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** The URLs learners open: the machine's non-loopback addresses when listening on all of them. */
export function roomUrlsFor(host: string, port: number): string[] {
  if (!listensOnAll(host)) return [];

  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter(
      (entry) =>
        entry !== undefined && !entry.internal && (entry.family === 'IPv4' || host === '::'),
    );
  return addresses.map(
    (entry) =>
      `http://${entry!.family === 'IPv6' ? `[${entry!.address}]` : entry!.address}:${port}/`,
  );
}

/** The lines `npm start` prints for the instructor. */
export function roomBanner(room: Room, localUrl: string): string {
  const lines: string[] = [];
  if (room.roomUrls.length > 0) {
    lines.push('  Learners open:', ...room.roomUrls.map((url) => `    ${url}training/join/`));
  }
  lines.push(`  Instructor dashboard: ${localUrl}training/instructor/`);
  lines.push(
    room.tokenGenerated
      ? `  Instructor token (new at each start; set LAB_INSTRUCTOR_TOKEN to keep one): ${room.instructorToken}`
      : '  Instructor token: the one in LAB_INSTRUCTOR_TOKEN',
  );
  return `${lines.join('\n')}\n\n`;
}
