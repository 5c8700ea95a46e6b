// Raw HTTP to the Docker Engine's Unix socket, for the per-session Docker API proxy. The proxy
// decides what may pass (docker-proxy/); this file only carries bytes, so that every connection
// to the engine stays inside the sandbox module.
import http from 'node:http';
import { connect, type Socket } from 'node:net';

/** The Docker API version the proxy speaks to the engine: Docker 20.10, the oldest supported. */
export const ENGINE_API_VERSION = '1.41';

export interface EngineReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * The engine's Unix socket, from DOCKER_HOST or Docker's default. The proxy speaks only to a
 * local engine: a TCP DOCKER_HOST would need TLS settings the proxy does not carry.
 */
export function engineSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  if (!host) return '/var/run/docker.sock';
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  throw new Error(
    `DOCKER_HOST=${host} is not a Unix socket; the learners' Docker proxy needs a local engine.`,
  );
}

export class EngineSocket {
  readonly socketPath: string;

  constructor(socketPath: string = engineSocketPath()) {
    this.socketPath = socketPath;
  }

  /** Sends one request and returns the response, streaming to the caller. */
  request(
    method: string,
    path: string,
    headers: http.OutgoingHttpHeaders = {},
  ): http.ClientRequest {
    return http.request({
      socketPath: this.socketPath,
      method,
      path: `/v${ENGINE_API_VERSION}${path}`,
      headers: { host: 'docker', ...headers },
      agent: false,
    });
  }

  /** Sends one request with an optional JSON body and reads the whole reply, up to a limit. */
  async call(
    method: string,
    path: string,
    body?: unknown,
    limitBytes = 16 * 1024 * 1024,
  ): Promise<EngineReply> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = payload
      ? { 'content-type': 'application/json', 'content-length': payload.length }
      : {};
    const request = this.request(method, path, headers);

    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      request.once('response', resolve);
      request.once('error', reject);
      request.end(payload);
    });
    return {
      status: response.statusCode ?? 500,
      headers: response.headers,
      body: await readLimited(response, limitBytes),
    };
  }

  /** Reads a JSON reply; a status of 400 or more comes back as is, with the parsed body. */
  async json<T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; value: T }> {
    const reply = await this.call(method, path, body);
    const text = reply.body.toString('utf8');
    return { status: reply.status, value: (text ? JSON.parse(text) : undefined) as T };
  }

  /**
   * Opens a raw connection and sends a request head and body, for the calls that the engine
   * upgrades to a bidirectional stream (attach, exec start). The engine's response, head
   * included, arrives on the returned socket.
   */
  openUpgrade(method: string, path: string, body: Buffer, contentType: string | undefined): Socket {
    const socket = connect({ path: this.socketPath, allowHalfOpen: true });
    const head = [
      `${method} /v${ENGINE_API_VERSION}${path} HTTP/1.1`,
      'Host: docker',
      'Connection: Upgrade',
      'Upgrade: tcp',
      ...(contentType ? [`Content-Type: ${contentType}`] : []),
      `Content-Length: ${body.length}`,
      '',
      '',
    ].join('\r\n');
    socket.write(head);
    if (body.length > 0) socket.write(body);
    return socket;
  }
}

/** Reads a stream into one buffer; fails once it passes the limit. */
export async function readLimited(
  stream: NodeJS.ReadableStream,
  limitBytes: number,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > limitBytes) throw new BodyTooLargeError(limitBytes);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

export class BodyTooLargeError extends Error {
  readonly limitBytes: number;

  constructor(limitBytes: number) {
    super(`body larger than ${limitBytes} bytes`);
    this.name = 'BodyTooLargeError';
    this.limitBytes = limitBytes;
  }
}
