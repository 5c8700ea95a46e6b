// Parses a Docker Engine API request into one of the calls the proxy knows. The path is rebuilt
// from the parsed parts before it reaches the engine, so a path the parser does not recognise,
// or one with dot segments or escapes, can never slip through to another endpoint.
import {
  badRequest,
  noSuchPlugin,
  noSuchVolume,
  notAllowed,
  type ProxyRefusal,
} from './refusals.ts';

export type Route =
  | {
      call:
        | 'ping'
        | 'version'
        | 'info'
        | 'containers.list'
        | 'containers.create'
        | 'images.list'
        | 'build'
        | 'networks.list';
    }
  | { call: ContainerCall; id: string }
  | { call: 'exec.start' | 'exec.resize' | 'exec.inspect'; id: string }
  | { call: 'images.inspect' | 'images.history' | 'images.remove'; ref: string }
  | { call: 'networks.inspect'; id: string };

export type ContainerCall =
  | 'containers.inspect'
  | 'containers.logs'
  | 'containers.top'
  | 'containers.stats'
  | 'containers.changes'
  | 'containers.start'
  | 'containers.stop'
  | 'containers.restart'
  | 'containers.kill'
  | 'containers.wait'
  | 'containers.resize'
  | 'containers.attach'
  | 'containers.exec'
  | 'containers.remove';

export interface ParsedRequest {
  route: Route;
  query: URLSearchParams;
}

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const EXEC_ID = /^[a-f0-9]{64}$/;
const IMAGE_REF = /^[a-zA-Z0-9][a-zA-Z0-9._/:@-]{0,254}$/;

const CONTAINER_GETS: Record<string, ContainerCall> = {
  json: 'containers.inspect',
  logs: 'containers.logs',
  top: 'containers.top',
  stats: 'containers.stats',
  changes: 'containers.changes',
};

const CONTAINER_POSTS: Record<string, ContainerCall> = {
  start: 'containers.start',
  stop: 'containers.stop',
  restart: 'containers.restart',
  kill: 'containers.kill',
  wait: 'containers.wait',
  resize: 'containers.resize',
  attach: 'containers.attach',
  exec: 'containers.exec',
};

/** What the engine API offers that labs do not, by the first path segment, for the refusal. */
const FORBIDDEN_AREAS: Record<string, string> = {
  swarm: 'Swarm mode',
  nodes: 'Swarm nodes',
  services: 'Swarm services',
  tasks: 'Swarm tasks',
  secrets: 'Swarm secrets',
  configs: 'Swarm configs',
  volumes: 'Managing volumes',
  plugins: 'Managing plugins',
  commit: 'docker commit',
  events: 'docker events',
  system: 'docker system',
  auth: 'docker login',
  session: 'BuildKit sessions',
  grpc: 'BuildKit',
  distribution: 'Registry lookups',
};

/** Parses method and raw URL; throws a ProxyRefusal for anything not on the list. */
export function parseRequest(method: string, rawUrl: string): ParsedRequest {
  // URL parsing resolves dot segments, so they are rejected in the raw path first.
  const rawPath = rawUrl.split('?')[0] ?? '';
  if (rawPath.split('/').some((segment) => segment === '.' || segment === '..'))
    throw badRequest(`malformed path ${rawPath}`);

  const url = new URL(rawUrl, 'http://docker');
  const segments = splitPath(url.pathname);
  const route = matchRoute(method.toUpperCase(), segments);
  return { route, query: url.searchParams };
}

function splitPath(pathname: string): string[] {
  if (pathname.includes('%') || pathname.includes('//') || pathname.includes('\\')) {
    throw badRequest(`malformed path ${pathname}`);
  }
  const segments = pathname.split('/').slice(1);
  if (segments.some((segment) => segment === '.' || segment === '..'))
    throw badRequest(`malformed path ${pathname}`);

  // The CLI prefixes the API version it negotiated, for example /v1.41/containers/json.
  if (/^v\d+\.\d+$/.test(segments[0] ?? '')) segments.shift();
  return segments;
}

function matchRoute(method: string, segments: string[]): Route {
  const [area = '', ...rest] = segments;
  const read = method === 'GET' || method === 'HEAD';

  if (area === '_ping' && rest.length === 0 && read) return { call: 'ping' };
  if (area === 'version' && rest.length === 0 && read) return { call: 'version' };
  if (area === 'info' && rest.length === 0 && read) return { call: 'info' };
  if (area === 'build' && rest.length === 0 && method === 'POST') return { call: 'build' };
  if (area === 'containers') return containerRoute(method, rest);
  if (area === 'exec') return execRoute(method, rest);
  if (area === 'images') return imageRoute(method, rest);
  if (area === 'networks') return networkRoute(method, rest);

  throw refuseArea(method, segments);
}

function containerRoute(method: string, rest: string[]): Route {
  if (rest.length === 1 && rest[0] === 'json' && method === 'GET')
    return { call: 'containers.list' };
  if (rest.length === 1 && rest[0] === 'create' && method === 'POST')
    return { call: 'containers.create' };

  const [id = '', action, ...more] = rest;
  if (!CONTAINER_ID.test(id) || more.length > 0) throw refuseArea(method, ['containers', ...rest]);

  if (action === undefined && method === 'DELETE') return { call: 'containers.remove', id };
  const call =
    method === 'GET'
      ? CONTAINER_GETS[action ?? '']
      : method === 'POST'
        ? CONTAINER_POSTS[action ?? '']
        : undefined;
  if (call) return { call, id };

  throw refuseArea(method, ['containers', ...rest]);
}

function execRoute(method: string, rest: string[]): Route {
  const [id = '', action, ...more] = rest;
  if (!EXEC_ID.test(id) || more.length > 0) throw refuseArea(method, ['exec', ...rest]);

  if (action === 'start' && method === 'POST') return { call: 'exec.start', id };
  if (action === 'resize' && method === 'POST') return { call: 'exec.resize', id };
  if (action === 'json' && method === 'GET') return { call: 'exec.inspect', id };
  throw refuseArea(method, ['exec', ...rest]);
}

function imageRoute(method: string, rest: string[]): Route {
  if (rest.length === 1 && rest[0] === 'json' && method === 'GET') return { call: 'images.list' };

  // Image references contain slashes (ddev-lab/ddev-base:trixie), so the action is the last
  // segment and the reference is everything before it, as the engine's router reads it.
  const last = rest.at(-1);
  if (method === 'GET' && (last === 'json' || last === 'history') && rest.length > 1) {
    const ref = imageRef(rest.slice(0, -1).join('/'), method, rest);
    return { call: last === 'json' ? 'images.inspect' : 'images.history', ref };
  }
  if (method === 'DELETE' && rest.length > 0)
    return { call: 'images.remove', ref: imageRef(rest.join('/'), method, rest) };

  throw refuseArea(method, ['images', ...rest]);
}

function imageRef(ref: string, method: string, rest: string[]): string {
  if (!IMAGE_REF.test(ref)) throw refuseArea(method, ['images', ...rest]);
  return ref;
}

function networkRoute(method: string, rest: string[]): Route {
  if (rest.length === 0 && method === 'GET') return { call: 'networks.list' };
  if (rest.length === 1 && method === 'GET' && CONTAINER_ID.test(rest[0]!))
    return { call: 'networks.inspect', id: rest[0]! };
  throw refuseArea(method, ['networks', ...rest]);
}

/**
 * The refusal for a call that is not on the list. Inspecting a volume or a plugin answers "not
 * found" as the engine does, because `docker inspect NAME` asks every kind of object in turn and
 * gives up at the first answer that is not "not found".
 */
function refuseArea(method: string, segments: string[]): ProxyRefusal {
  const [area = '', name = ''] = segments;
  if (method === 'GET' && area === 'volumes' && segments.length === 2) return noSuchVolume(name);
  if (method === 'GET' && area === 'plugins' && segments.at(-1) === 'json')
    return noSuchPlugin(segments.slice(1, -1).join('/'));

  const call = `${method} /${segments.join('/')}`;
  if (area === 'images' && segments[1] === 'create')
    return notAllowed(
      'Pulling or importing images',
      'use a teaching image or build one with `docker build`',
    );
  if (area === 'containers' && segments[1] === 'create') return notAllowed(call);
  if (area === 'networks')
    return notAllowed('Managing networks', "your containers join the session's network");
  if (area === 'containers' && segments[2] === 'archive')
    return notAllowed('Copying files (docker cp)');

  const named = FORBIDDEN_AREAS[area];
  return notAllowed(named ? `${named} (${call})` : `The call ${call}`);
}
