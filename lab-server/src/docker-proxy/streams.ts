// `docker exec -it`, `docker run -it` and `docker attach`: the CLI asks to upgrade the HTTP
// connection and then sends the TTY's bytes over it. The proxy checks the call like any other,
// then splices the learner's connection to a fresh one to the engine, half-closes included.
import type http from 'node:http';
import type { Duplex } from 'node:stream';

import { CONTAINER_QUERIES } from './calls-containers.ts';
import type { ProxyContext } from './context.ts';
import { pickQuery, withQuery } from './forward.ts';
import { resolveContainer } from './names.ts';
import { badRequest, noSuchExec, ProxyRefusal } from './refusals.ts';
import { parseRequest } from './routes.ts';

const STREAM_BODY_LIMIT = 64 * 1024;

/** Checks the call, then joins the learner's socket to the engine's; returns the learner's socket. */
export async function openStream(
  context: ProxyContext,
  request: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<Duplex> {
  const { route, query } = parseRequest(request.method ?? 'GET', request.url ?? '/');
  const { body, rest } = await readBody(request, socket, head);

  let path: string;
  let payload = Buffer.alloc(0);
  if (route.call === 'containers.attach') {
    const info = await resolveContainer(context, route.id);
    path = withQuery(
      `/containers/${info.Id}/attach`,
      pickQuery(query, CONTAINER_QUERIES['containers.attach']!),
    );
  } else if (route.call === 'exec.start') {
    if (!context.execs.has(route.id)) throw noSuchExec(route.id);
    const asked = body.length > 0 ? (JSON.parse(body.toString('utf8')) as { Tty?: unknown }) : {};
    payload = Buffer.from(JSON.stringify({ Detach: false, Tty: asked.Tty === true }));
    path = `/exec/${route.id}/start`;
  } else {
    throw new ProxyRefusal(400, `${request.method} ${request.url} cannot be upgraded to a stream`);
  }

  const engine = context.engine.openUpgrade(
    'POST',
    path,
    payload,
    payload.length > 0 ? 'application/json' : undefined,
  );
  if (rest.length > 0) engine.write(rest);
  splice(socket, engine);
  return socket;
}

function splice(learner: Duplex, engine: Duplex): void {
  const end = () => {
    learner.destroy();
    engine.destroy();
  };
  learner.once('error', end);
  engine.once('error', end);
  learner.once('close', end);
  engine.once('close', end);

  // Each side's end of input half-closes the other, as `docker exec -i` with piped input needs.
  learner.pipe(engine);
  engine.pipe(learner);
  learner.resume();
}

/** Reads the request body (Content-Length bytes) from the upgrade's head and the socket. */
function readBody(
  request: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<{ body: Buffer; rest: Buffer }> {
  const length = Number(request.headers['content-length'] ?? 0);
  if (!Number.isInteger(length) || length < 0 || length > STREAM_BODY_LIMIT)
    throw badRequest('invalid Content-Length');

  return new Promise((resolve, reject) => {
    let buffered = head;
    const done = () => {
      if (buffered.length < length) return false;
      socket.off('data', onData);
      socket.off('error', reject);
      socket.pause();
      resolve({ body: buffered.subarray(0, length), rest: buffered.subarray(length) });
      return true;
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      done();
    };
    if (done()) return;
    socket.on('data', onData);
    socket.once('error', reject);
  });
}
