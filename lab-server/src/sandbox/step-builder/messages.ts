// The build's output in the classic builder's JSON message stream and words, and the error that
// ends a build with a message for the learner.
import { BuildStepError } from './context.ts';
import { DockerfileSyntaxError } from './parse.ts';

/**
 * Marks a message that carries a RUN step's own output, which a receiver may leave out when its
 * client reads too slowly; JSON leaves the mark out.
 */
export const RUN_OUTPUT: unique symbol = Symbol('run output');

export type BuildMessage =
  | { stream: string; [RUN_OUTPUT]?: true }
  | { aux: { ID: string } }
  | { error: string; errorDetail: { code?: number; message: string } };

/** Ends the build with a message the learner reads; `code` is a failed RUN's exit code. */
export class BuildFailure extends Error {
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.code = code;
  }
}

/** Returns the 12-character image or container id the classic builder shows. */
export function short(imageId: string): string {
  return imageId.replace(/^sha256:/, '').slice(0, 12);
}

/** The session's disk quota for the images it builds, and what its images hold already. */
export interface DiskBudget {
  quotaBytes: number;
  heldBytes: number;
}

function mib(bytes: number): string {
  const value = bytes / 1024 / 1024;
  return value >= 10 || value === 0 ? String(Math.floor(value)) : value.toFixed(1);
}

/** Returns the failure for a step that would write past the session's disk quota. */
export function diskFailure(what: string, budget: DiskBudget): BuildFailure {
  const quota = mib(budget.quotaBytes);
  if (budget.heldBytes < 1024 * 1024)
    return new BuildFailure(
      `${what} was stopped: the build wrote more than its disk quota of ${quota} MiB. Write less in the build, or remove files in the same step that makes them.`,
    );
  return new BuildFailure(
    `${what} was stopped: the build wrote more than its disk quota of ${quota} MiB allows, because the images this session built hold ${mib(budget.heldBytes)} MiB of it already. Remove images you no longer need with \`docker rmi\`, or write less in the build.`,
  );
}

/** Returns the failure for a build that starts with no room left in the session's disk quota. */
export function quotaFullFailure(budget: DiskBudget): BuildFailure {
  return new BuildFailure(
    `the images this session built hold ${mib(budget.heldBytes)} MiB, which fills its disk quota of ${mib(budget.quotaBytes)} MiB for images. Remove images you no longer need with \`docker rmi\` (\`docker images\` lists them), then build again.`,
  );
}

/** Returns the failure for a build that makes more files and folders than a build may. */
export function entriesFailure(what: string, limit: number): BuildFailure {
  return new BuildFailure(
    `${what} was stopped: the build created or changed more than ${limit} files and folders, which a build on this lab server may not. Make fewer files, or remove them in the same step that makes them.`,
  );
}

/** Returns the error text of a failed build: why it stopped, or the step's own message. */
export function failureDetail(
  error: unknown,
  stop: { timedOut: boolean; aborted: boolean; timeoutSeconds: number },
): string {
  if (stop.timedOut)
    return `the build ran past its time limit of ${stop.timeoutSeconds} seconds and was stopped`;
  if (stop.aborted) return 'the build was cancelled';
  if (
    error instanceof BuildFailure ||
    error instanceof BuildStepError ||
    error instanceof DockerfileSyntaxError
  )
    return error.message;
  // An engine call failed: the output carries the engine's message, as the classic builder's does.
  return `the build failed on the lab server: ${(error as Error).message ?? String(error)}`;
}
