// The catalogue of errors the lab server reports. Each has a stable name, an HTTP status and a
// message that says what failed, on which value, and what to do next.

export class LabError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(code: string, status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = code;
    this.code = code;
    this.status = status;
  }

  toJSON(): { error: string; message: string } {
    return { error: this.code, message: this.message };
  }
}

export class DockerUnavailableError extends LabError {
  constructor(endpoint: string, cause: unknown) {
    super(
      'DockerUnavailable',
      503,
      `No Docker Engine replied at ${endpoint}. Start Docker (for example \`sudo systemctl start docker\`, ` +
        'or `dockerd &` on a machine without systemd), or set DOCKER_HOST to a running engine, then try again.',
      { cause },
    );
  }
}

export class ImageBuildError extends LabError {
  constructor(image: string, detail: string) {
    super('ImageBuildFailed', 500, `Building image ${image} failed: ${detail}`);
  }
}

export class ImageMissingError extends LabError {
  constructor(tag: string) {
    super(
      'ImageMissing',
      503,
      `Image ${tag} is not built. Run \`npm run images\`, then try again.`,
    );
  }
}

export class LabNotFoundError extends LabError {
  constructor(labId: string) {
    super(
      'LabNotFound',
      404,
      `No lab has the id "${labId}". Open the list of labs in the guide and pick one.`,
    );
  }
}

export class InvalidRequestError extends LabError {
  constructor(detail: string) {
    super('InvalidRequest', 400, detail);
  }
}

export class SessionNotFoundError extends LabError {
  constructor(sessionId: string) {
    super(
      'SessionNotFound',
      404,
      `No session has the id "${sessionId}", or it has ended. Start the lab again.`,
    );
  }
}

export class UnauthorizedError extends LabError {
  constructor() {
    super(
      'Unauthorized',
      401,
      'The session token is missing or wrong. Start the lab again from its page.',
    );
  }
}

export class CapacityError extends LabError {
  readonly retryAfterSeconds: number;

  constructor(limit: number, retryAfterSeconds: number) {
    super(
      'ServerFull',
      503,
      `The lab server is running its maximum of ${limit} sessions. Try again in about ${retryAfterSeconds} seconds.`,
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class CheckTimeoutError extends LabError {
  constructor(stepId: string, seconds: number) {
    super('CheckTimedOut', 504, `The check of step "${stepId}" timed out after ${seconds} s.`);
  }
}
