// Small helpers shared by the modules that call the engine through dockerode: the HTTP status of
// a failed call, and the end of an exec's output stream.

/** Returns the HTTP status that dockerode attaches to a failed engine call, if any. */
export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

/** Resolves true when the stream ends, closes or fails, and false after timeoutMs without that. */
export function waitForEnd(stream: NodeJS.ReadableStream, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      resolve(true);
    };
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
  });
}
