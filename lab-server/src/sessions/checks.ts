// Step checks: a command in a named container. Exit status 0 passes; a line of output starting
// with `FAIL:` is the message shown to the learner when it does not. A `poll` check reruns until
// it passes or its wait runs out. Each failed request earns the learner more of the step's hints.
import { CheckTimeoutError, InvalidRequestError } from '../errors.ts';
import { revealedHints, type Lab, type LabStep } from '../labs/schema.ts';
import type { Session, SessionManager } from './manager.ts';
import { prepareStep, runStepCommand } from './steps.ts';

export interface CheckResult {
  stepId: string;
  passed: boolean;
  message: string;
  /** Every hint earned so far, oldest first. */
  hints: string[];
  /** The newest hint, kept for clients that show one. */
  hint?: string;
  /** Ids of the steps the learner has passed in this lab. */
  passedSteps: string[];
}

export function findStep(lab: Lab, stepId: string): LabStep {
  const step = lab.steps.find((candidate) => candidate.id === stepId);
  if (step) return step;
  throw new InvalidRequestError(
    `Lab "${lab.id}" has no step "${stepId}". Steps: ${lab.steps.map((s) => s.id).join(', ')}.`,
  );
}

/** Runs a step's check once, or polls it when its mode is `poll` and the request sets `wait`. */
export async function checkStep(
  sessions: SessionManager,
  session: Session,
  stepId: string,
  options: { wait: boolean },
): Promise<CheckResult> {
  const lab = sessions.lab(session);
  const step = findStep(lab, stepId);
  const polling = options.wait && step.check.mode === 'poll';
  const deadline = Date.now() + step.check.waitSeconds * 1000;
  await sessions.whenReady(session);

  // A learner may check a later step first; its setup runs before its first check.
  await prepareStep(sessions.stepContext, session, lab, step);
  let outcome = await runOnce(sessions, session, lab, step);
  while (
    !outcome.passed &&
    polling &&
    Date.now() + step.check.intervalSeconds * 1000 < deadline &&
    sessions.isRunning(session.id)
  ) {
    await new Promise((resolve) => setTimeout(resolve, step.check.intervalSeconds * 1000));
    outcome = await runOnce(sessions, session, lab, step);
  }

  return outcome.passed
    ? recordPass(sessions, session, lab, step)
    : recordFailure(sessions, session, lab, step, outcome.message);
}

async function runOnce(
  sessions: SessionManager,
  session: Session,
  lab: Lab,
  step: LabStep,
): Promise<{ passed: boolean; message: string }> {
  const { runtime, config, log } = sessions.stepContext;
  const timeoutSeconds = step.check.timeoutSeconds ?? config.checkTimeoutSeconds;
  const result = await runtime.runCommand(session.sandbox.containers[step.check.service]!, {
    user: step.check.user,
    command: step.check.run,
    timeoutSeconds,
  });
  if (result.timedOut) throw new CheckTimeoutError(step.id, timeoutSeconds);

  const passed = result.exitCode === 0;
  log.info(
    { sessionId: session.id, labId: lab.id, stepId: step.id, passed, exitCode: result.exitCode },
    'check ran',
  );
  return {
    passed,
    message: passed ? 'Check passed.' : failureMessage(`${result.stdout}\n${result.stderr}`),
  };
}

/** Stores the pass and prepares the next step not yet passed by running its setup. */
async function recordPass(
  sessions: SessionManager,
  session: Session,
  lab: Lab,
  step: LabStep,
): Promise<CheckResult> {
  const before = sessions.store.passedSteps(session.learnerId, lab.id);
  sessions.store.markPassed(session.learnerId, lab.id, step.id);
  const passedSteps = sessions.store.passedSteps(session.learnerId, lab.id);

  const next = lab.steps
    .slice(lab.steps.indexOf(step) + 1)
    .find((candidate) => !passedSteps.includes(candidate.id));
  if (next && !before.includes(step.id))
    await prepareStep(sessions.stepContext, session, lab, next);

  const failures = sessions.store.failures(session.learnerId, lab.id)[step.id] ?? 0;
  return {
    stepId: step.id,
    passed: true,
    message: 'Check passed.',
    hints: revealedHints(step, failures),
    passedSteps,
  };
}

function recordFailure(
  sessions: SessionManager,
  session: Session,
  lab: Lab,
  step: LabStep,
  message: string,
): CheckResult {
  const failures = sessions.store.recordFailure(session.learnerId, lab.id, step.id);
  const hints = revealedHints(step, failures);
  const passedSteps = sessions.store.passedSteps(session.learnerId, lab.id);
  return { stepId: step.id, passed: false, message, hints, hint: hints.at(-1), passedSteps };
}

/**
 * Returns the learner to the start of a step: clears the passes of it and every later step, and
 * runs its setup again. Earlier steps and the containers' other state stay as they are.
 */
export async function restartStep(
  sessions: SessionManager,
  session: Session,
  stepId: string,
): Promise<string[]> {
  const lab = sessions.lab(session);
  const step = findStep(lab, stepId);
  const later = lab.steps.slice(lab.steps.indexOf(step)).map((candidate) => candidate.id);
  await sessions.whenReady(session);

  sessions.store.forgetSteps(session.learnerId, lab.id, later);
  await runStepCommand(sessions.stepContext, session, lab, step, 'setup');
  session.preparedSteps.add(step.id);
  return sessions.store.passedSteps(session.learnerId, lab.id);
}

function failureMessage(output: string): string {
  const line = output.split('\n').find((candidate) => candidate.startsWith('FAIL:'));
  return line ? line.slice('FAIL:'.length).trim() : 'Not yet: the check did not pass.';
}
