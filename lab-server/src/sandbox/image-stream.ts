// Helpers shared by the image modules: reading the engine's JSON progress streams and
// inspecting an image that may not exist.
import type Docker from 'dockerode';

export interface ImageSummary {
  id: string;
  labels: Record<string, string>;
  sizeBytes: number;
  created: string;
}

/** Returns the image's id, labels and size, or undefined when no image has the tag. */
export async function inspectImage(docker: Docker, tag: string): Promise<ImageSummary | undefined> {
  try {
    const info = await docker.getImage(tag).inspect();
    return {
      id: info.Id,
      labels: info.Config?.Labels ?? {},
      sizeBytes: info.Size,
      created: info.Created,
    };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export interface EngineMessage {
  stream?: string;
  status?: string;
  error?: string;
  aux?: { ID?: string };
}

/**
 * Reads a stream of JSON messages from the engine (build, pull and import all send one) and
 * passes each line of text to onLine as it arrives; resolves with every message once it ends.
 */
export function followJsonStream(
  stream: NodeJS.ReadableStream,
  onLine: (line: string) => void,
): Promise<EngineMessage[]> {
  const messages: EngineMessage[] = [];
  let pending = '';

  const handle = (text: string): void => {
    if (!text.trim()) return;
    let message: EngineMessage;
    try {
      message = JSON.parse(text) as EngineMessage;
    } catch {
      onLine(text);
      return;
    }
    messages.push(message);
    const line = message.stream ?? message.status ?? message.error ?? '';
    for (const part of line.split('\n')) {
      if (part.trim()) onLine(part.trimEnd());
    }
  };

  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(handle);
    });
    stream.on('end', () => {
      handle(pending);
      resolve(messages);
    });
    stream.on('error', reject);
  });
}

export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number } | null)?.statusCode === 404;
}

/** Passes each line of a text stream (a child process's output) to onLine as it arrives. */
export function forwardLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';

  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onLine(line.trimEnd());
  });
  stream.on('end', () => {
    if (pending.trim()) onLine(pending.trimEnd());
  });
}
