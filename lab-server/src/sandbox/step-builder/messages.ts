// The build's output in the classic builder's JSON message stream and words, and the error that
// ends a build with a message for the learner.
import { BuildStepError } from './context.ts';
import { DockerfileSyntaxError } from './parse.ts';

export type BuildMessage =
  | { stream: string }
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

/** Returns the failure for a step that would write past the build's disk quota. */
export function diskFailure(what: string, diskBytes: number): BuildFailure {
  const mib = Math.floor(diskBytes / 1024 / 1024);
  return new BuildFailure(
    `${what} was stopped: the build wrote more than its disk quota of ${mib} MiB. Write less in the build, or remove files in the same step that makes them.`,
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
