// Step checks: a command in a named container. Exit status 0 passes; a line of output starting
// with `FAIL:` is the message shown to the learner when it does not.
import type { Config } from '../config.ts';
import { CheckTimeoutError, InvalidRequestError } from '../errors.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { SandboxRuntime } from '../sandbox/runtime.ts';
import type { Session } from './manager.ts';

export interface CheckResult {
  stepId: string;
  passed: boolean;
  message: string;
  hint?: string;
}

export async function runCheck(
  runtime: SandboxRuntime,
  config: Config,
  session: Session,
  lab: Lab,
  stepId: string,
  log: Logger,
): Promise<CheckResult> {
  const step = lab.steps.find((candidate) => candidate.id === stepId);
  if (!step) {
    throw new InvalidRequestError(`Lab "${lab.id}" has no step "${stepId}". Steps: ${lab.steps.map((s) => s.id).join(', ')}.`);
  }

  const containerId = session.sandbox.containers[step.check.service]!;
  const timeoutSeconds = step.check.timeoutSeconds ?? config.checkTimeoutSeconds;
  const result = await runtime.runCommand(containerId, { user: step.check.user, command: step.check.run, timeoutSeconds });
  if (result.timedOut) throw new CheckTimeoutError(stepId, timeoutSeconds);

  const passed = result.exitCode === 0;
  log.info({ sessionId: session.id, labId: lab.id, stepId, passed, exitCode: result.exitCode }, 'check ran');

  if (passed) return { stepId, passed, message: 'Check passed.' };
  return { stepId, passed, message: failureMessage(result.stdout + '\n' + result.stderr), hint: step.hints[0] };
}

function failureMessage(output: string): string {
  const line = output.split('\n').find((candidate) => candidate.startsWith('FAIL:'));
  return line ? line.slice('FAIL:'.length).trim() : 'Not yet: the check did not pass.';
}
