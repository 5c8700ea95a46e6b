// The image calls a learner may make: list, inspect and history of the teaching images and of the
// session's own, removal of the session's own, and builds that tag into the session's namespace,
// run by the lab server's step builder rather than the engine's.
import type http from 'node:http';

import { readLimited, BodyTooLargeError } from '../sandbox/engine-socket.ts';
import { LABEL_PREFIX } from '../sandbox/labels.ts';
import { plainTar, readContextFile } from './build-context.ts';
import type { ImageInfo, ProxyContext } from './context.ts';
import { checkDockerfile } from './dockerfile-check.ts';
import { RUN_OUTPUT, type BuildMessage } from '../sandbox/step-builder/messages.ts';
import { forwardJson, pickQuery, sendJson, withQuery } from './forward.ts';
import { parseFilters } from './filters.ts';
import { TAG_NAMESPACE } from '../images/catalog.ts';
import {
  isImageId,
  isSessionRef,
  isTeachingTag,
  sessionNamespace,
  toDisplayRef,
  toEngineRef,
} from './refs.ts';
import { badRequest, notAllowed } from './refusals.ts';

type Call = {
  request: http.IncomingMessage;
  response: http.ServerResponse;
  query: URLSearchParams;
};

/** Largest build context the proxy reads, in bytes: it holds the whole context to check it. */
export const BUILD_CONTEXT_LIMIT = 32 * 1024 * 1024;

/** A whole build's time limit, as a Restart's. */
const BUILD_TIMEOUT_SECONDS = 600;

/** Bytes a build may add when the session has no disk quota of its own: the default quota. */
const DEFAULT_BUILD_DISK_BYTES = 2048 * 1024 * 1024;

export async function listImages(context: ProxyContext, { response, query }: Call): Promise<void> {
  const forwarded = pickQuery(query, ['all', 'digests']);
  const filters = query.get('filters');
  if (filters)
    forwarded.set('filters', JSON.stringify(sessionReferences(context, parseFilters(filters))));

  await forwardJson<(ImageInfo & { RepoTags: string[] | null })[]>(
    context.engine,
    response,
    { method: 'GET', path: withQuery('/images/json', forwarded) },
    (images) =>
      images
        .filter((image) => context.imageAllowed(image))
        .map((image) => ({ ...image, RepoTags: context.displayTags(image.RepoTags) })),
  );
}

export async function imageCall(
  context: ProxyContext,
  call: 'images.inspect' | 'images.history',
  ref: string,
  { response }: Call,
): Promise<void> {
  const info = await context.ownImage(ref);
  const path = `/images/${info.Id}/${call === 'images.inspect' ? 'json' : 'history'}`;

  await forwardJson<Record<string, unknown>>(
    context.engine,
    response,
    { method: 'GET', path },
    (value) =>
      call === 'images.inspect'
        ? { ...value, RepoTags: context.displayTags(value.RepoTags as string[] | null) }
        : value,
  );
}

/** `docker images hello` filters by reference; the learner's names live in the session's namespace. */
function sessionReferences(
  context: ProxyContext,
  filters: Record<string, string[]>,
): Record<string, string[]> {
  if (!filters.reference) return filters;
  const namespace = sessionNamespace(context.sessionId);
  const inNamespace = (value: string) =>
    value.startsWith(`${TAG_NAMESPACE}/`) || value.startsWith(`${namespace}/`)
      ? value
      : `${namespace}/${value}`;
  return { ...filters, reference: filters.reference.map(inNamespace) };
}

/** Removes the session's tags only: by id, each of the image's session tags in turn. */
export async function removeImage(
  context: ProxyContext,
  ref: string,
  { response, query }: Call,
): Promise<void> {
  if (isTeachingTag(ref)) throw notAllowed(`Removing the teaching image ${ref}`);
  const info = await context.ownImage(ref);

  // An image of the session that lost its tag to a later build still counts against the
  // session's disk quota, so it can be removed by its id.
  const untagged = (info.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>').length === 0;
  const ownUntagged = isImageId(ref) && untagged && context.belongs(info.Labels);
  const tags = ownUntagged
    ? [info.Id]
    : isImageId(ref)
      ? (info.RepoTags ?? []).filter((tag) => isSessionRef(tag, context.sessionId))
      : [toEngineRef(ref, context.sessionId)!];
  if (tags.length === 0)
    throw notAllowed(`Removing the image ${ref}`, 'only images you built can be removed');

  const removal = pickQuery(query, ['force']);
  const removed: unknown[] = [];
  for (const tag of tags) {
    const reply = await context.engine.json<unknown[] | { message: string }>(
      'DELETE',
      withQuery(`/images/${tag}`, removal),
    );
    if (reply.status >= 300) {
      sendJson(response, reply.status, reply.value);
      return;
    }
    removed.push(...(reply.value as unknown[]));
  }
  sendJson(response, 200, removed);
}

/**
 * Builds with the lab server's step builder, after checking the Dockerfile: each RUN in a
 * container with the session's hardening and limits and no network, tags in the session's
 * namespace, the session's labels on the result. The output is the classic builder's stream.
 */
export async function build(
  context: ProxyContext,
  { request, response, query }: Call,
): Promise<void> {
  if (context.building)
    throw notAllowed('A second build at the same time', 'wait for the first to finish');
  if (context.builds >= context.caps.builds)
    throw notAllowed(
      `More than ${context.caps.builds} builds in one session`,
      'reset the lab to start again',
    );
  context.building = true;
  context.builds += 1;

  try {
    const tags = query.getAll('t').map((tag) => sessionTag(context, tag));
    const buildArgs = parseStringMap(query.get('buildargs'), 'buildargs');
    const learnerLabels = Object.entries(parseStringMap(query.get('labels'), 'labels')).filter(
      ([key]) => !key.startsWith(`${LABEL_PREFIX}.`),
    );
    const tar = plainTar(await readContext(request), BUILD_CONTEXT_LIMIT);

    const dockerfileName = query.get('dockerfile') || 'Dockerfile';
    const text = readContextFile(tar, dockerfileName);
    if (text === undefined)
      throw badRequest(`Cannot locate specified Dockerfile: ${dockerfileName}`);

    const checked = checkDockerfile(text, buildArgs);
    const engineRefs = new Map<string, string>();
    for (const image of checked.images) engineRefs.set(image, await baseImage(context, image));
    const dockerfile = `${checked.render(engineRefs)}\n${labelLine(context)}\n`;

    response.writeHead(200, { 'Content-Type': 'application/json' });
    // The engine cancels a build whose client goes away (Ctrl-C on `docker build`); so does this.
    const cancel = new AbortController();
    response.once('close', () => cancel.abort());
    const output = new BuildOutput(response);

    const { instance, sessionId, labId, limits } = context.session;
    await context.builder.build({
      dockerfile,
      context: tar,
      tags,
      showTag: (tag) => toDisplayRef(tag, sessionId),
      buildArgs,
      labels: Object.fromEntries(learnerLabels),
      // The builder's own check of every image FROM or COPY --from opens, whatever the Dockerfile
      // check above read: the same rule as `docker images` and `docker inspect`.
      allowImage: (_ref, image) =>
        context.imageAllowed({
          Id: image.Id,
          RepoTags: image.RepoTags,
          Labels: image.Config?.Labels ?? null,
        }),
      allowedImages: 'a teaching image (`docker images` lists them) or one you built',
      quiet: isSet(query.get('q')),
      noCache: isSet(query.get('nocache')),
      owner: { instance, sessionId, labId },
      limits: {
        memoryBytes: limits.memoryBytes,
        nanoCpus: limits.nanoCpus,
        pids: limits.pids,
        diskBytes: limits.diskBytes ?? DEFAULT_BUILD_DISK_BYTES,
        timeoutSeconds: BUILD_TIMEOUT_SECONDS,
      },
      network: 'none',
      onMessage: (message) => output.send(message),
      signal: cancel.signal,
    });
    response.end();
  } finally {
    context.building = false;
  }
}

/** Build output the proxy holds for a client that reads slower than the build writes, in bytes. */
export const MAX_BUFFERED_OUTPUT = 1024 * 1024;

/**
 * Writes the build's messages to the client. While more than MAX_BUFFERED_OUTPUT waits for a
 * slow client, the output of RUN steps is left out, and a note says how much once the client
 * caught up; the builder's own lines, errors and the image id always go through.
 */
export class BuildOutput {
  private readonly response: http.ServerResponse;
  private droppedBytes = 0;

  constructor(response: http.ServerResponse) {
    this.response = response;
  }

  send(message: BuildMessage): void {
    const { response } = this;
    if (response.writableEnded || response.destroyed) return;
    if (RUN_OUTPUT in message && response.writableLength > MAX_BUFFERED_OUTPUT) {
      this.droppedBytes += 'stream' in message ? message.stream.length : 0;
      return;
    }
    if (this.droppedBytes > 0) {
      const note = `[${this.droppedBytes} bytes of output left out: the client read slower than the build wrote]\n`;
      this.droppedBytes = 0;
      response.write(`${JSON.stringify({ stream: note })}\r\n`);
    }
    response.write(`${JSON.stringify(message)}\r\n`);
  }
}

function isSet(value: string | null): boolean {
  return value !== null && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/**
 * The session's labels as one LABEL line at the end of the Dockerfile: the `labels` parameter
 * becomes one step per label, which would crowd the history a lab teaches. The builder builds
 * every stage to the last, so the line always ends up in the result.
 */
function labelLine(context: ProxyContext): string {
  const pairs = Object.entries(context.learnerLabels('image')).map(
    ([key, value]) => `${key}=${JSON.stringify(value)}`,
  );
  return `LABEL ${pairs.join(' ')}`;
}

function sessionTag(context: ProxyContext, tag: string): string {
  if (isTeachingTag(tag))
    throw notAllowed(
      `Tagging over the teaching image ${tag}`,
      'pick a name of your own, like `docker build -t hello .`',
    );
  const engineRef = toEngineRef(tag, context.sessionId);
  if (!engineRef || isImageId(tag))
    throw badRequest(`invalid tag "${tag}": use a name like hello or hello:v2`);
  return engineRef;
}

/** A FROM image must be a teaching image or one this session built, and present: builds never pull. */
async function baseImage(context: ProxyContext, image: string): Promise<string> {
  const refusal = notAllowed(
    `The base image "${image}"`,
    'build FROM a teaching image (`docker images` lists them) or one you built',
  );
  const engineRef = toEngineRef(image, context.sessionId);
  if (!engineRef) throw refusal;

  try {
    const info = await context.ownImage(image);
    return isImageId(image) ? info.Id : engineRef;
  } catch (error) {
    if ((error as { status?: number }).status === 404) throw refusal;
    throw error;
  }
}

async function readContext(request: http.IncomingMessage): Promise<Buffer> {
  try {
    return await readLimited(request, BUILD_CONTEXT_LIMIT);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      throw notAllowed(
        `A build context over ${BUILD_CONTEXT_LIMIT / 1024 / 1024} MiB`,
        'leave large files out with a .dockerignore file',
      );
    }
    throw error;
  }
}

function parseStringMap(raw: string | null, name: string): Record<string, string> {
  if (!raw) return {};
  try {
    const value = JSON.parse(raw) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value))
      throw new Error('not an object');
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, entry]) => entry !== null)
        .map(([key, entry]) => [key, String(entry)]),
    );
  } catch {
    throw badRequest(`invalid ${name}: ${raw}`);
  }
}
