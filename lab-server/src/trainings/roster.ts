// What the instructor's dashboard shows of each learner: the lab and step they are on, the steps
// passed, the time left in their session and whether their page is with us. Computed from the
// stores and the running sessions each time it is asked for, so it is never stale.
import { createHash } from 'node:crypto';

import type { Lab } from '../labs/schema.ts';
import type { Session } from '../sessions/manager.ts';
import type { Training, TrainingLearner } from './training-store.ts';

/**
 * A page that sent a heartbeat this recently counts as connected; the page beats every 30 s. A
 * heartbeat from before the session's last terminal socket closed does not count, so a closed
 * tab reads as gone at once, while a network that drops without a close waits for this window.
 */
export const CONNECTED_WITHIN_MS = 75_000;

export interface RosterEntry {
  /** A stable id for the dashboard; the learner id itself is the learner's credential, never shown. */
  key: string;
  name: string;
  joinedAt: string;
  lab: { id: string; title: string } | null;
  step: { id: string; title: string; number: number; of: number } | null;
  stepsPassed: number;
  stepsTotal: number;
  session: {
    id: string;
    labId: string;
    expiresAt: string;
    secondsLeft: number;
    terminals: { id: string; title: string }[];
  } | null;
  connected: boolean;
}

export interface RosterSources {
  labs: Map<string, Lab>;
  sessionsOf(learnerId: string): Session[];
  passedSteps(learnerId: string, labId: string): string[];
  /** Terminal sockets attached now, by session id. */
  attachedTerminals(sessionId: string): number;
  /** When the session's last attached terminal socket closed, in epoch ms; undefined if none has. */
  detachedAt(sessionId: string): number | undefined;
}

export function learnerKey(learnerId: string): string {
  return createHash('sha256').update(`roster:${learnerId}`).digest('hex').slice(0, 16);
}

export function rosterEntry(
  training: Training,
  learner: TrainingLearner,
  sources: RosterSources,
  now = Date.now(),
): RosterEntry {
  const labs = training.labs
    .map((id) => sources.labs.get(id))
    .filter((lab): lab is Lab => lab !== undefined);
  const passedByLab = new Map(
    labs.map((lab) => [lab.id, sources.passedSteps(learner.learnerId, lab.id)]),
  );
  const session = sources
    .sessionsOf(learner.learnerId)
    .find((candidate) => training.labs.includes(candidate.labId));

  const lab = currentLab(labs, passedByLab, session);
  const passed = lab ? passedByLab.get(lab.id)! : [];
  const stepIndex = lab ? lab.steps.findIndex((step) => !passed.includes(step.id)) : -1;
  const step = lab && stepIndex >= 0 ? lab.steps[stepIndex]! : undefined;

  return {
    key: learnerKey(learner.learnerId),
    name: learner.displayName,
    joinedAt: new Date(learner.joinedAt).toISOString(),
    lab: lab ? { id: lab.id, title: lab.title } : null,
    step:
      lab && step
        ? { id: step.id, title: step.title, number: stepIndex + 1, of: lab.steps.length }
        : null,
    stepsPassed: labs.reduce(
      (sum, each) =>
        sum + passedByLab.get(each.id)!.filter((id) => each.steps.some((s) => s.id === id)).length,
      0,
    ),
    stepsTotal: labs.reduce((sum, each) => sum + each.steps.length, 0),
    session: session ? describeSession(session, sources.labs.get(session.labId), now) : null,
    connected: session !== undefined && isConnected(session, sources, now),
  };
}

/** Checks for an attached terminal socket, or a recent heartbeat sent after the last socket closed. */
function isConnected(session: Session, sources: RosterSources, now: number): boolean {
  if (sources.attachedTerminals(session.id) > 0) return true;

  const heartbeatRecent = now - session.lastSeenAt < CONNECTED_WITHIN_MS;
  const detachedAt = sources.detachedAt(session.id);
  return heartbeatRecent && (detachedAt === undefined || session.lastSeenAt > detachedAt);
}

/** The lab of the running session, else the first lab not finished, else the last lab. */
function currentLab(
  labs: Lab[],
  passedByLab: Map<string, string[]>,
  session: Session | undefined,
): Lab | undefined {
  if (session) return labs.find((lab) => lab.id === session.labId);
  return (
    labs.find((lab) => lab.steps.some((step) => !passedByLab.get(lab.id)!.includes(step.id))) ??
    labs.at(-1)
  );
}

function describeSession(
  session: Session,
  lab: Lab | undefined,
  now: number,
): NonNullable<RosterEntry['session']> {
  return {
    id: session.id,
    labId: session.labId,
    expiresAt: new Date(session.expiresAt).toISOString(),
    secondsLeft: Math.max(0, Math.round((session.expiresAt - now) / 1000)),
    terminals: (lab?.terminals ?? []).map((terminal) => ({
      id: terminal.id,
      title: terminal.title,
    })),
  };
}
