// Adoption after a restart: the server gives back a session that an earlier run stored when its
// lab still exists and can outlive the server, and the session has not expired. Every service's
// container must still run, and the router's routes must be restored.
import type { Lab } from '../labs/schema.ts';
import type { RemovalCount, Sandbox } from '../sandbox/runtime.ts';
import type { SessionStore, StoredSession } from '../store/session-store.ts';
import type { StateStore } from '../store/state-store.ts';
import { writeRoutes } from './routes.ts';
import { newToken, type Session } from './session.ts';
import type { StepContext } from './steps.ts';

export interface AdoptionContext extends StepContext {
  labs: Map<string, Lab>;
  store: StateStore;
  sessionStore: SessionStore;
}

/**
 * Returns whether a session of this lab can outlive the server. Labs whose services use `docker`
 * cannot, because their Docker proxy lives in the server's process.
 */
export function canAdopt(lab: Lab): boolean {
  return !Object.values(lab.services).some((service) => service.docker === true);
}

/**
 * Gives back the stored sessions that can be adopted through `register`, removes the others from
 * the session store, and removes every other resource of this instance, found by its labels.
 */
export async function adoptAll(
  context: AdoptionContext,
  register: (session: Session, earlierDigests: string[]) => void,
): Promise<{ adopted: number; removed: RemovalCount }> {
  const keep = new Set<string>();
  for (const stored of context.sessionStore.list()) {
    const session = await adoptStored(context, stored);
    if (session) {
      register(session, stored.tokenDigests);
      keep.add(session.id);
    } else context.sessionStore.remove(stored.id);
  }

  const removed = await context.runtime.sweep(context.config.instance, keep);
  return { adopted: keep.size, removed };
}

/**
 * Returns the session of a stored one whose sandbox can be given back, with a new token stored
 * beside the old ones, or undefined when it cannot.
 */
async function adoptStored(
  context: AdoptionContext,
  stored: StoredSession,
): Promise<Session | undefined> {
  const { config, runtime } = context;
  const lab = context.labs.get(stored.labId);
  if (!lab || stored.expiresAt <= Date.now() || !canAdopt(lab) || !runtime.findSandbox)
    return undefined;

  const sandbox = await runtime.findSandbox(config.instance, stored.id);
  if (!sandbox || Object.keys(lab.services).some((name) => !sandbox.containers[name]))
    return undefined;
  if (!(await restoreRoutes(context, lab, sandbox))) return undefined;

  const now = Date.now();
  const token = newToken();
  context.sessionStore.addToken(stored.id, token);
  const passed = context.store.passedSteps(stored.learnerId, lab.id);
  return {
    id: stored.id,
    labId: lab.id,
    learnerId: stored.learnerId,
    token,
    createdAt: stored.createdAt,
    expiresAt: stored.expiresAt,
    maxExpiresAt: stored.maxExpiresAt,
    lastSeenAt: now,
    lastActiveAt: now,
    sandbox,
    preparedSteps: preparedSteps(lab, passed),
  };
}

/**
 * Writes the routes that an adopted sandbox's router lacks, because the server may have stopped
 * before it wrote them. The routes it has stay as the learner left them. False on failure.
 */
async function restoreRoutes(context: StepContext, lab: Lab, sandbox: Sandbox): Promise<boolean> {
  try {
    await writeRoutes(context, sandbox, lab, { missingOnly: true });
    return true;
  } catch (error) {
    context.log.error(
      { sessionId: sandbox.sessionId, labId: lab.id, err: error },
      'restoring the routes of a stored session failed, so it is removed',
    );
    return false;
  }
}

/** Returns the steps whose setup has run in a sandbox: every passed step and the first one not passed. */
function preparedSteps(lab: Lab, passed: readonly string[]): Set<string> {
  const prepared = new Set<string>();
  for (const step of lab.steps) {
    prepared.add(step.id);
    if (!passed.includes(step.id)) break;
  }
  return prepared;
}
