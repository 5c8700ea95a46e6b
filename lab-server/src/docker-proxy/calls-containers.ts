// The container and exec calls a learner may make, each on the session's own objects only.
import type http from 'node:http';

import { LABELS } from '../sandbox/labels.ts';
import { buildCreateBody, buildExecBody, MEMORY_LABEL } from './container-spec.ts';
import {
  CREATED_BY_LABEL,
  CREATED_BY_LEARNER,
  type ImageInfo,
  type ProxyContext,
} from './context.ts';
import { forward, forwardJson, pickQuery, readJsonBody, withQuery } from './forward.ts';
import { parseFilters, withLabels } from './filters.ts';
import {
  containerNamePrefix,
  namespaceNamePatterns,
  resolveContainer,
  resolveContainerId,
  sessionContainers,
  toDisplayMessage,
  toDisplayName,
  toDisplayNames,
  toEngineName,
} from './names.ts';
import { toDisplayRef, toEngineRef } from './refs.ts';
import { badRequest, noSuchExec, notAllowed, ProxyRefusal } from './refusals.ts';
import type { ContainerCall } from './routes.ts';

type Call = {
  request: http.IncomingMessage;
  response: http.ServerResponse;
  query: URLSearchParams;
};

/** Query parameters each container call passes on; the rest are dropped. */
export const CONTAINER_QUERIES: Partial<Record<ContainerCall, readonly string[]>> = {
  'containers.logs': ['follow', 'stdout', 'stderr', 'since', 'until', 'timestamps', 'tail'],
  'containers.top': ['ps_args'],
  'containers.stats': ['stream', 'one-shot'],
  'containers.start': ['detachKeys'],
  'containers.stop': ['t'],
  'containers.restart': ['t'],
  'containers.kill': ['signal'],
  'containers.wait': ['condition'],
  'containers.resize': ['h', 'w'],
  'containers.attach': ['stream', 'stdin', 'stdout', 'stderr', 'logs', 'detachKeys'],
};

const CONTAINER_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
/**
 * The `docker top` options a learner may pass. The engine runs ps on the host and keeps the lines
 * whose PID column contains one of the container's process ids, so free-form options could rename
 * another column to PID (`-o uid=PID`), show environments (`e`) or force a listing of every host
 * process (`--forest`). Only these plain forms and `-o`/`-eo` with the columns below pass.
 */
const PS_ARGS_PLAIN = new Set(['', '-ef', '-e', '-f', '-eF', '-A', 'aux', 'ax', 'au', 'x']);
const PS_COLUMNS = new Set([
  'pid',
  'ppid',
  'pgid',
  'user',
  'uid',
  'group',
  'gid',
  'comm',
  'args',
  'cmd',
  'etime',
  'time',
  'stime',
  'start',
  'stat',
  'state',
  'pcpu',
  '%cpu',
  'pmem',
  '%mem',
  'rss',
  'vsz',
  'tty',
  'nice',
  'ni',
]);

export async function listContainers(
  context: ProxyContext,
  { response, query }: Call,
): Promise<void> {
  const prefix = containerNamePrefix(context.session);
  const forwarded = pickQuery(query, ['all', 'limit', 'size']);
  forwarded.set(
    'filters',
    withLabels(await containerFilters(context, query.get('filters')), context.sessionLabels()),
  );

  await forwardJson<{ Labels: Record<string, string>; Image: string; Names: string[] | null }[]>(
    context.engine,
    response,
    { method: 'GET', path: withQuery('/containers/json', forwarded) },
    (containers) =>
      containers
        .filter((container) => context.belongs(container.Labels))
        .map((container) => ({
          ...container,
          Image: toDisplayRef(container.Image, context.sessionId),
          Names: toDisplayNames(container.Names, prefix),
        })),
  );
}

/**
 * Moves the learner's list filters into the session's namespace: `before` and `since` name a container,
 * looked up among the session's own, and anchored `name` patterns also match after the prefix.
 */
async function containerFilters(
  context: ProxyContext,
  raw: string | null,
): Promise<Record<string, string[]>> {
  const filters = parseFilters(raw);
  if (filters.name)
    filters.name = namespaceNamePatterns(filters.name, containerNamePrefix(context.session));

  const references = ['before', 'since'].filter((key) => filters[key]?.length);
  const containers = references.length > 0 ? await sessionContainers(context) : [];
  for (const key of references) {
    filters[key] = await Promise.all(
      filters[key]!.map((ref) => resolveContainerId(context, ref, containers)),
    );
  }
  return filters;
}

/** Creates a learner's container from an allowed image, on the session's network, within the caps. */
export async function createContainer(
  context: ProxyContext,
  { request, response, query }: Call,
): Promise<void> {
  const body = await readJsonBody(request);
  const requested = query.get('name');
  if (requested && !CONTAINER_NAME.test(requested))
    throw badRequest(
      `Invalid container name (${requested}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  const name = requested ? requested.replace(/^\//, '') : undefined;
  const prefix = containerNamePrefix(context.session);

  const run = async () => {
    const image = await allowedImage(context, String(body.Image ?? ''));
    const used = await learnerContainers(context);
    const serviceNames = await labServiceNames(context);
    if (used.count >= context.caps.containers) {
      throw notAllowed(
        `More than ${context.caps.containers} containers of your own`,
        'remove one with `docker rm -f NAME` first',
      );
    }

    const spec = buildCreateBody(body, {
      networkId: context.session.networkId,
      networkName: context.networkName,
      labels: context.learnerLabels('sandbox'),
      memoryBytes: context.session.limits.memoryBytes,
      memoryLeftBytes: Math.max(0, context.caps.memoryBytes - used.memoryBytes),
      nanoCpus: context.session.limits.nanoCpus,
      pids: context.session.limits.pids,
      name,
      serviceNames,
      imageHealthcheck: image.config.Healthcheck,
    });
    // Every name the proxy makes starts with the session's prefix, so a name clash is with a
    // container of this session. The engine's conflict message then shows the learner's name.
    const engineName = name
      ? new URLSearchParams({ name: toEngineName(name, prefix) })
      : new URLSearchParams();
    const path = withQuery('/containers/create', engineName);
    const call = { method: 'POST', path, body: { ...spec, Image: image.ref } };
    await forwardJson(
      context.engine,
      response,
      call,
      (value) => value,
      (message) => toDisplayMessage(message, prefix),
    );
  };

  const turn = context.createQueue.then(run, run);
  context.createQueue = turn.catch(() => undefined);
  await turn;
}

/** The parts of an image's config that a learner's container inherits and the proxy checks. */
interface ImageConfig {
  Volumes?: Record<string, unknown> | null;
  Healthcheck?: unknown;
}

/**
 * Returns the engine's reference for an allowed image, with its config. An image that declares
 * a VOLUME is rejected: `docker run` would make an anonymous volume, which the disk quota of
 * the container's writable layer does not cover. Teaching images declare none.
 */
async function allowedImage(
  context: ProxyContext,
  ref: string,
): Promise<{ ref: string; config: ImageConfig }> {
  const refusal = notAllowed(
    `The image "${ref}"`,
    'use a teaching image (`docker images` lists them) or one you built',
  );
  const engineRef = toEngineRef(ref, context.sessionId);
  if (!ref || !engineRef) throw refusal;

  let info: ImageInfo & { Config?: ImageConfig | null };
  try {
    info = await context.ownImage(ref);
  } catch (error) {
    if ((error as { status?: number }).status === 404) throw refusal;
    throw error;
  }

  const config = info.Config ?? {};
  const volumes = Object.keys(config.Volumes ?? {});
  if (volumes.length > 0) {
    throw notAllowed(
      `A container of the image "${ref}", which declares VOLUME ${volumes.join(' ')},`,
      'build the image without VOLUME',
    );
  }
  return {
    ref:
      engineRef.startsWith('sha256:') || /^[a-f0-9]{12,64}$/.test(engineRef) ? info.Id : engineRef,
    config,
  };
}

/** Lists the service names of the lab's own containers in the session, which are their network aliases. */
async function labServiceNames(context: ProxyContext): Promise<string[]> {
  const containers = await sessionContainers(context);
  return containers.flatMap((container) => {
    const labels = container.Labels ?? {};
    const service = labels[LABELS.service];
    return service && labels[CREATED_BY_LABEL] !== CREATED_BY_LEARNER ? [service] : [];
  });
}

/** The learner's own containers and the memory they hold, from the labels set at creation. */
async function learnerContainers(
  context: ProxyContext,
): Promise<{ count: number; memoryBytes: number }> {
  const { value } = await context.engine.json<{ Labels: Record<string, string> }[]>(
    'GET',
    withQuery(
      '/containers/json',
      new URLSearchParams({ all: '1', filters: context.learnerFilter() }),
    ),
  );
  const mine = value.filter(
    (container) =>
      context.belongs(container.Labels) &&
      container.Labels[CREATED_BY_LABEL] === CREATED_BY_LEARNER,
  );
  const memoryBytes = mine.reduce(
    (sum, container) => sum + Number(container.Labels[MEMORY_LABEL] ?? 0),
    0,
  );
  return { count: mine.length, memoryBytes };
}

/** Calls on one container: inspect, logs, top, stats, changes, start, stop, restart, kill, wait, resize, remove. */
export async function containerCall(
  context: ProxyContext,
  call: ContainerCall,
  id: string,
  { request, response, query }: Call,
): Promise<void> {
  const info = await resolveContainer(context, id);
  const path = `/containers/${info.Id}`;
  const prefix = containerNamePrefix(context.session);

  if (call === 'containers.inspect') {
    await forwardJson<{ Name: string; Config: { Image: string } }>(
      context.engine,
      response,
      { method: 'GET', path: `${path}/json` },
      (value) => ({
        ...value,
        Name: toDisplayName(value.Name, prefix),
        Config: { ...value.Config, Image: toDisplayRef(value.Config.Image, context.sessionId) },
      }),
    );
    return;
  }

  if (call === 'containers.remove') {
    if (info.Config.Labels?.[CREATED_BY_LABEL] !== CREATED_BY_LEARNER) {
      const service = info.Config.Labels?.[LABELS.service] ?? id;
      throw notAllowed(
        `Removing the lab's own container "${service}"`,
        'restart it with `docker restart`, or reset the lab',
      );
    }
    const removal = new URLSearchParams({ v: '1' });
    if (query.get('force') === '1' || query.get('force') === 'true') removal.set('force', '1');
    await forward(context.engine, request, response, {
      method: 'DELETE',
      path: withQuery(path, removal),
    });
    return;
  }

  const forwarded = pickQuery(query, CONTAINER_QUERIES[call] ?? []);
  const psArgs = forwarded.get('ps_args');
  if (psArgs !== null && !allowedPsArgs(psArgs)) {
    throw notAllowed(
      `The ps options "${psArgs}"`,
      `use one of ${[...PS_ARGS_PLAIN].filter(Boolean).join(', ')} or -o with plain column names such as -o pid,user,args`,
    );
  }

  const action = call.slice('containers.'.length);
  const reads: readonly ContainerCall[] = [
    'containers.top',
    'containers.logs',
    'containers.stats',
    'containers.changes',
  ];
  const method = reads.includes(call) ? 'GET' : 'POST';
  const changeLine =
    call === 'containers.stats' ? (line: string) => displayStatsName(line, prefix) : undefined;
  await forward(
    context.engine,
    request,
    response,
    { method, path: withQuery(`${path}/${action}`, forwarded) },
    changeLine,
  );
}

/**
 * One line of `docker stats` output (a JSON object per line) with the name as the learner sees
 * it. The text is changed, not parsed: JSON.parse would round the engine's 64-bit counters.
 */
export function displayStatsName(line: string, prefix: string): string {
  return line.split(`"/${prefix}`).join('"/');
}

/** Exec creations a session may make at once, and how many more it gets back each second. */
export const EXEC_BURST = 30;
export const EXEC_PER_SECOND = 1;

/**
 * A token bucket: `take` spends one token, and tokens come back at a steady rate up to the
 * bucket's size. Each `docker exec` makes the engine and containerd start a process outside
 * the container's CPU limit, so a loop of them would keep those busy.
 */
export class RateBucket {
  private tokens: number;
  private updatedAt: number;
  private readonly size: number;
  private readonly perSecond: number;

  constructor(size: number, perSecond: number, now: number) {
    this.size = size;
    this.perSecond = perSecond;
    this.tokens = size;
    this.updatedAt = now;
  }

  /** Spends a token and returns true, or returns false when none is left. */
  take(now: number): boolean {
    this.tokens = Math.min(
      this.size,
      this.tokens + ((now - this.updatedAt) / 1000) * this.perSecond,
    );
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

const execBuckets = new WeakMap<ProxyContext, RateBucket>();

/** Creates an exec in one of the session's containers and remembers it as the learner's. */
export async function createExec(
  context: ProxyContext,
  id: string,
  { request, response }: Call,
): Promise<void> {
  const info = await resolveContainer(context, id);
  const body = buildExecBody(await readJsonBody(request));
  const bucket =
    execBuckets.get(context) ?? new RateBucket(EXEC_BURST, EXEC_PER_SECOND, Date.now());
  execBuckets.set(context, bucket);
  if (!bucket.take(Date.now())) {
    throw new ProxyRefusal(
      429,
      `Too many docker exec calls: this lab allows ${EXEC_BURST} at once, then ${EXEC_PER_SECOND} a second. Wait a few seconds, or run several commands in one exec (sh -c '...')`,
    );
  }

  await forwardJson<{ Id: string }>(
    context.engine,
    response,
    { method: 'POST', path: `/containers/${info.Id}/exec`, body },
    (value) => {
      context.execs.add(value.Id);
      return value;
    },
  );
}

/** Starts (detached), resizes or inspects an exec the learner created. */
export async function execCall(
  context: ProxyContext,
  call: 'exec.start' | 'exec.resize' | 'exec.inspect',
  id: string,
  { request, response, query }: Call,
): Promise<void> {
  if (!context.execs.has(id)) throw noSuchExec(id);

  if (call === 'exec.inspect') {
    await forward(context.engine, request, response, { method: 'GET', path: `/exec/${id}/json` });
    return;
  }
  if (call === 'exec.resize') {
    await forward(context.engine, request, response, {
      method: 'POST',
      path: withQuery(`/exec/${id}/resize`, pickQuery(query, ['h', 'w'])),
    });
    return;
  }

  const body = await readJsonBody(request);
  const start = { Detach: body.Detach === true, Tty: body.Tty === true };
  await forward(context.engine, request, response, {
    method: 'POST',
    path: `/exec/${id}/start`,
    body: Buffer.from(JSON.stringify(start)),
    contentType: 'application/json',
  });
}

/** Accepts the plain ps forms and `-o`/`-eo` followed by known column names, without renames. */
export function allowedPsArgs(psArgs: string): boolean {
  if (PS_ARGS_PLAIN.has(psArgs)) return true;

  const match = /^-e?o ([a-z%]+(?:,[a-z%]+)*)$/.exec(psArgs);
  return match !== null && match[1]!.split(',').every((column) => PS_COLUMNS.has(column));
}
