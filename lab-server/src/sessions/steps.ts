// Running a lab's own commands in a session: a step's setup and solution, the wait for services
// with a health check, and the replay that brings fresh containers up to a learner's progress.
import type { Config } from '../config.ts';
import { LabError } from '../errors.ts';
import type { Lab, LabStep } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { CommandResult, SandboxRuntime } from '../sandbox/runtime.ts';
import type { Session } from './manager.ts';

export class StepCommandError extends LabError {
  constructor(labId: string, stepId: string, part: string, result: CommandResult) {
    const output = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-3).join(' | ');
    super(
      'StepCommandFailed',
      500,
      `The ${part} of step "${stepId}" in lab "${labId}" failed with exit code ${result.exitCode}` +
        `${output ? `: ${output}` : ''}. Reset the lab; if it fails again, the lab definition needs fixing.`,
    );
  }
}

export interface StepContext {
  runtime: SandboxRuntime;
  config: Config;
  log: Logger;
}

/** Runs a step's setup or solution in its service (the check's service when it names none). */
export async function runStepCommand(
  context: StepContext,
  session: Session,
  lab: Lab,
  step: LabStep,
  part: 'setup' | 'solution',
): Promise<void> {
  const spec = step[part];
  if (!spec) return;

  const service = spec.service ?? step.check.service;
  const user = spec.user ?? (spec.service ? undefined : step.check.user);
  const result = await context.runtime.runCommand(session.sandbox.containers[service]!, {
    user,
    command: spec.run,
    timeoutSeconds: context.config.checkTimeoutSeconds,
  });

  context.log.info(
    { sessionId: session.id, labId: lab.id, stepId: step.id, part, exitCode: result.exitCode },
    'step command ran',
  );
  if (result.exitCode !== 0) throw new StepCommandError(lab.id, step.id, part, result);
}

/** Runs a step's setup unless it already ran in this sandbox. */
export async function prepareStep(
  context: StepContext,
  session: Session,
  lab: Lab,
  step: LabStep,
): Promise<void> {
  if (session.preparedSteps.has(step.id)) return;
  await runStepCommand(context, session, lab, step, 'setup');
  session.preparedSteps.add(step.id);
}

/** Waits until every service with a health check passes it, in dependency order. */
export async function waitForHealthyServices(
  context: StepContext,
  session: Pick<Session, 'sandbox'>,
  lab: Lab,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;

  for (const name of dependencyOrder(lab)) {
    const healthcheck = lab.services[name]!.healthcheck;
    if (!healthcheck) continue;

    while (true) {
      const result = await context.runtime.runCommand(session.sandbox.containers[name]!, {
        command: healthcheck.test,
        timeoutSeconds: 10,
      });
      if (result.exitCode === 0) break;
      if (Date.now() > deadline) {
        throw new LabError(
          'ServiceUnhealthy',
          503,
          `Service "${name}" of lab "${lab.id}" did not become healthy. Reset the lab to try again.`,
        );
      }
      await sleep(healthcheck.intervalSeconds * 1000);
    }
  }
}

/**
 * Brings a fresh sandbox up to the learner's progress: replays the setup and solution of every
 * passed step in lab order, then runs the setup of the first step not yet passed.
 */
export async function replayProgress(
  context: StepContext,
  session: Session,
  lab: Lab,
  passed: readonly string[],
): Promise<void> {
  for (const step of lab.steps) {
    await prepareStep(context, session, lab, step);
    if (!passed.includes(step.id)) return;
    await runStepCommand(context, session, lab, step, 'solution');
  }
}

/** Returns service names so that each comes after the services it depends on. */
export function dependencyOrder(lab: Lab): string[] {
  const ordered: string[] = [];
  const visit = (name: string) => {
    if (ordered.includes(name)) return;
    for (const other of lab.services[name]!.dependsOn) visit(other);
    ordered.push(name);
  };

  for (const name of Object.keys(lab.services)) visit(name);
  return ordered;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
