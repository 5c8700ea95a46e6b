// Errors of the project build: a web-build or db-build folder, .ddev/config.yaml, the build and
// the container recreation. Each says which file, key or step failed and what to change.
import { LabError } from '../errors.ts';

export class BuildFolderError extends LabError {
  constructor(detail: string) {
    super('InvalidBuildFolder', 400, detail);
  }
}

export class ProjectConfigError extends LabError {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(
      'InvalidProjectConfig',
      400,
      `.ddev/config.yaml is invalid: ${problems.join(' ')} Edit .ddev/config.yaml, then press Restart again.`,
    );
    this.problems = problems;
  }
}

export class DockerfileParseError extends LabError {
  constructor(file: string, detail: string) {
    super('InvalidDockerfile', 400, `${file} cannot be built: ${detail}.`);
  }
}

export class ImageReferenceError extends LabError {
  constructor(file: string, reference: string, allowed: string[]) {
    super(
      'ImageNotAllowed',
      400,
      `${file} refers to the image "${reference}", which a lab build may not use. ` +
        `Use $BASE_IMAGE, a stage named earlier in the Dockerfile, or one of: ${allowed.join(', ')}.`,
    );
  }
}

export class RemoteSourceError extends LabError {
  constructor(file: string, source: string) {
    super(
      'RemoteSourceNotAllowed',
      400,
      `${file} adds ${source}, which the engine would fetch from the lab server's own network. ` +
        'Download files in a RUN step (apt-get, curl) or COPY them from the project folder.',
    );
  }
}

export class UnboundedInstructionError extends LabError {
  constructor(file: string, instruction: string, reason: string) {
    super(
      'InstructionNotAllowed',
      400,
      `${file} has "${instruction}", which a lab does not allow: ${reason}.`,
    );
  }
}

export class ProjectBuildFailedError extends LabError {
  readonly step: string | undefined;
  readonly source: string | undefined;

  constructor(image: string, detail: string, failing: { step?: string; source?: string }) {
    const where = failing.step
      ? ` at ${failing.step}${failing.source ? ` (from ${failing.source})` : ''}`
      : '';
    super(
      'ProjectBuildFailed',
      422,
      `Building ${image} failed${where}: ${detail} Fix the file, then press Restart again; ` +
        'the previous web container is still running.',
    );
    this.step = failing.step;
    this.source = failing.source;
  }

  override toJSON(): { error: string; message: string; step?: string; source?: string } {
    return { ...super.toJSON(), step: this.step, source: this.source };
  }
}

export class ProjectBuildTimeoutError extends LabError {
  constructor(image: string, seconds: number) {
    super(
      'ProjectBuildTimedOut',
      504,
      `Building ${image} took longer than ${seconds} s and was stopped. Install fewer packages or ` +
        'split the work, then press Restart again; the previous web container is still running.',
    );
  }
}

export class BuildBusyError extends LabError {
  constructor(detail: string) {
    super('BuildBusy', 409, detail);
  }
}

export class RecreateFailedError extends LabError {
  constructor(image: string, detail: string) {
    super(
      'RecreateFailed',
      422,
      `The container from ${image} did not start: ${detail} The previous web container is still running.`,
    );
  }
}

export class BuildCapacityError extends LabError {
  constructor(limit: number) {
    super(
      'BuildsBusy',
      503,
      `The lab server is already running its maximum of ${limit} image builds. Press Restart again in a minute.`,
    );
  }
}
