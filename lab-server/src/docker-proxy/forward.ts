// Passing a checked call on to the engine and its answer back to the learner's CLI.
import type http from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

import type { EngineSocket } from '../sandbox/engine-socket.ts';
import { BodyTooLargeError, readLimited } from '../sandbox/engine-socket.ts';
import { ProxyRefusal } from './refusals.ts';

/** Largest request body the proxy reads for a JSON call. */
export const JSON_BODY_LIMIT = 1024 * 1024;

const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade']);

/** Keeps only the named query parameters, so nothing else reaches the engine. */
export function pickQuery(query: URLSearchParams, names: readonly string[]): URLSearchParams {
  const picked = new URLSearchParams();
  for (const name of names) for (const value of query.getAll(name)) picked.append(name, value);
  return picked;
}

export function withQuery(path: string, query: URLSearchParams): string {
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Sends the call and streams the engine's answer back as it comes, for logs, stats and builds.
 * With changeLine, each line of a successful answer (a stream of JSON lines, as stats sends) is
 * changed before it goes back.
 */
export function forward(
  engine: EngineSocket,
  request: http.IncomingMessage,
  response: http.ServerResponse,
  call: {
    method: string;
    path: string;
    body?: Buffer | NodeJS.ReadableStream;
    contentType?: string;
  },
  changeLine?: (line: string) => string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers =
      call.body && call.contentType
        ? { 'content-type': call.contentType, ...lengthOf(call.body) }
        : {};
    const upstream = engine.request(call.method, call.path, headers);

    upstream.once('error', reject);
    upstream.once('response', (answer) => {
      // The CLI waits for the head of some answers before its next call (`docker run` sends
      // wait, then start), so the head goes out at once, not with the first byte of the body.
      const status = answer.statusCode ?? 502;
      const changing = changeLine !== undefined && status < 300;
      const headers = passableHeaders(answer.headers);
      // A changed line has another length than the engine's.
      if (changing) delete headers['content-length'];
      response.writeHead(status, headers);
      response.flushHeaders();
      if (changing) answer.pipe(new LineChange(changeLine)).pipe(response);
      else answer.pipe(response);
      answer.once('end', resolve);
      answer.once('error', reject);
    });
    // A CLI that goes away (Ctrl-C on `docker logs -f`) ends the engine's stream too.
    response.once('close', () => upstream.destroy());
    request.once('aborted', () => upstream.destroy());

    if (call.body === undefined) upstream.end();
    else if (Buffer.isBuffer(call.body)) upstream.end(call.body);
    else call.body.pipe(upstream);
  });
}

/**
 * Sends the call, reads the JSON answer and lets the caller change it before it goes back; with
 * changeError, also the message of an engine error.
 */
export async function forwardJson<T>(
  engine: EngineSocket,
  response: http.ServerResponse,
  call: { method: string; path: string; body?: unknown },
  change: (value: T) => unknown,
  changeError?: (message: string) => string,
): Promise<void> {
  const reply = await engine.call(call.method, call.path, call.body);
  if (reply.status >= 300 && changeError) {
    sendJson(response, reply.status, { message: changeError(errorMessage(reply.body)) });
    return;
  }
  if (reply.status >= 300) {
    response.writeHead(reply.status, passableHeaders(reply.headers)).end(reply.body);
    return;
  }
  sendJson(response, reply.status, change(JSON.parse(reply.body.toString('utf8')) as T));
}

export function sendJson(response: http.ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  response
    .writeHead(status, {
      'content-type': 'application/json',
      'content-length': body.length,
      'api-version': '1.41',
    })
    .end(body);
}

export function sendRefusal(response: http.ServerResponse, refusal: ProxyRefusal): void {
  sendJson(response, refusal.status, refusal.toJSON());
}

/** Reads a JSON call's body. A body past the limit is rejected with status 413 and a message, not counted as a failure of the proxy. */
export async function readJsonBody(
  request: http.IncomingMessage,
): Promise<Record<string, unknown>> {
  let body: Buffer;
  try {
    body = await readLimited(request, JSON_BODY_LIMIT);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    throw new ProxyRefusal(
      413,
      `request body is larger than ${JSON_BODY_LIMIT / 1024 / 1024} MiB, the most this lab's Docker proxy reads for a JSON call`,
    );
  }
  if (body.length === 0) return {};
  const value = JSON.parse(body.toString('utf8')) as unknown;
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** Extracts the message of an engine error body, `{"message": "..."}`, or returns the body as text. */
function errorMessage(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    const value = JSON.parse(text) as { message?: unknown };
    return typeof value.message === 'string' ? value.message : text;
  } catch {
    return text;
  }
}

/** Changes a stream line by line; a last line without a newline is changed at the end. */
class LineChange extends Transform {
  private rest = '';
  private readonly decoder = new StringDecoder('utf8');
  private readonly change: (line: string) => string;

  constructor(change: (line: string) => string) {
    super();
    this.change = change;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const lines = (this.rest + this.decoder.write(chunk)).split('\n');
    this.rest = lines.pop() ?? '';
    done(null, lines.map((line) => `${this.change(line)}\n`).join(''));
  }

  override _flush(done: TransformCallback): void {
    const last = this.rest + this.decoder.end();
    done(null, last ? this.change(last) : '');
  }
}

function passableHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !HOP_HEADERS.has(name.toLowerCase())),
  );
}

function lengthOf(body: Buffer | NodeJS.ReadableStream): Record<string, number> {
  return Buffer.isBuffer(body) ? { 'content-length': body.length } : {};
}
