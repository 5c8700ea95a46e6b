// The proxy to web servers inside a sandbox, under the lab server's own origin at
// /api/sessions/<session>/web/<web id>/. No port is published on the host: the session network
// is `internal` (no route out), yet the host is on its bridge, so the lab server connects to the
// container's address on that bridge. Checked on Docker 20.10 with the bridge driver.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, isIPv4 } from 'node:net';
import type { NextFunction, Request, Response } from 'express';

import { InvalidRequestError, LabError, UnauthorizedError } from '../errors.ts';
import type { LabWebService } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import type { Session, SessionManager } from '../sessions/manager.ts';
import { isOwnCookie, parseCookies, webCookieName, webPathOf } from './cookies.ts';

export const WEB_ROUTE = /^\/sessions\/([0-9a-f]{16})\/web\/([a-z0-9][a-z0-9-]{0,62})(\/.*)?$/;

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'cookie',
  'authorization',
];
/**
 * Reply headers that act on the lab server's whole origin or host, not on the one page: a
 * service worker's scope, site data, HSTS, other servers for the host, and reporting of every
 * request's errors. A learner's page must never set them for the instructor's dashboard.
 */
const ORIGIN_WIDE = [
  'service-worker-allowed',
  'clear-site-data',
  'strict-transport-security',
  'alt-svc',
  'nel',
  'report-to',
  'reporting-endpoints',
];
/** How long a request waits for a service that is still starting. */
const PORT_WAIT_MS = 15_000;
const UPSTREAM_TIMEOUT_MS = 30_000;

/** Container addresses by session id and service, looked up once per session. */
const addresses = new Map<string, Map<string, Promise<string>>>();

/** Returns middleware for the api router that proxies the web routes and passes on the rest. */
export function createWebProxy(sessions: SessionManager, log: Logger) {
  sessions.onEnd((sessionId) => addresses.delete(sessionId));

  return (request: Request, response: Response, next: NextFunction) => {
    const match = WEB_ROUTE.exec(request.path);
    if (!match) return next();

    proxy(sessions, log, request, response, match).catch(next);
  };
}

async function proxy(
  sessions: SessionManager,
  log: Logger,
  request: Request,
  response: Response,
  match: RegExpExecArray,
): Promise<void> {
  const [, sessionId, webId, rest] = match as unknown as [
    string,
    string,
    string,
    string | undefined,
  ];
  const session = sessions.authorize(sessionId, tokenOf(request, sessionId));
  // A service worker of the lab server's origin would see every request of the origin, the
  // instructor's included, so no proxied script may be registered as one.
  if (request.get('service-worker') !== undefined) {
    throw new LabError(
      'ServiceWorkerNotAllowed',
      403,
      'A page of a lab service may not register a service worker on the lab server.',
    );
  }
  const web = sessions.lab(session).web.find((candidate) => candidate.id === webId);
  if (!web) throw new InvalidRequestError(`Lab "${session.labId}" has no web service "${webId}".`);

  // Without the slash, the page's relative links would resolve outside the proxy.
  if (rest === undefined) {
    response.redirect(308, `${webPathOf(sessionId)}${webId}/${queryOf(request.originalUrl)}`);
    return;
  }

  // A page opened right after Start waits for the services' health checks, as checks do.
  await sessions.whenReady(session);
  const address = await addressOf(sessions, session, web.service);
  await waitForPort(address, web.port, PORT_WAIT_MS);
  const upstreamPath = `${rest}${queryOf(request.originalUrl)}`;
  const prefix = `${webPathOf(sessionId)}${webId}`;

  await new Promise<void>((resolve, reject) => {
    const upstream = httpRequest(
      {
        host: address,
        port: web.port,
        method: request.method,
        path: upstreamPath,
        headers: forwardHeaders(request, web, prefix),
        timeout: UPSTREAM_TIMEOUT_MS,
      },
      (reply) => {
        response.status(reply.statusCode ?? 502);
        copyReplyHeaders(reply.headers, response, prefix, address);
        reply.pipe(response);
        reply.once('end', resolve);
        reply.once('error', reject);
      },
    );
    upstream.once('timeout', () =>
      upstream.destroy(
        new LabError(
          'WebServiceTimeout',
          504,
          `The web service "${web.id}" did not respond within ${UPSTREAM_TIMEOUT_MS / 1000} s. Check that its server runs, then reload.`,
        ),
      ),
    );
    upstream.once('error', (error) => {
      log.warn({ sessionId, labId: session.labId, webId, err: error }, 'web proxy request failed');
      reject(
        error instanceof LabError
          ? error
          : new LabError(
              'WebServiceUnavailable',
              502,
              `The web service "${web.id}" in your lab refused or dropped the connection on port ${web.port}. Check that its server runs, then reload.`,
            ),
      );
    });
    request.pipe(upstream);
  });
}

/**
 * Waits until the service accepts connections, for a link opened while its container is still
 * starting; a refusal after the wait is left for the request itself to report.
 */
async function waitForPort(host: string, port: number, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port, timeout: 1000 }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function tokenOf(request: Request, sessionId: string): string | undefined {
  const header = request.get('authorization') ?? '';
  if (header.startsWith('Bearer ')) return header.slice('Bearer '.length);

  const token = parseCookies(request.get('cookie')).get(webCookieName(sessionId));
  if (token === undefined) throw new UnauthorizedError();
  return token;
}

/**
 * Looks up a service's IPv4 address on the session network from the engine, never from inside the
 * container, where a learner controls every program. Cached by container, because a Restart
 * replaces the container and its address.
 */
function addressOf(sessions: SessionManager, session: Session, service: string): Promise<string> {
  const containerId = session.sandbox.containers[service]!;
  const known = addresses.get(session.id) ?? new Map<string, Promise<string>>();
  addresses.set(session.id, known);

  const cached = known.get(containerId);
  if (cached) return cached;

  const lookup = readAddress(sessions, session, service, containerId);
  known.set(containerId, lookup);
  lookup.catch(() => known.delete(containerId));
  return lookup;
}

async function readAddress(
  sessions: SessionManager,
  session: Session,
  service: string,
  containerId: string,
): Promise<string> {
  const { runtime } = sessions.stepContext;
  const address = await runtime.containerAddress(containerId, session.sandbox.networkId);
  if (!address || !isIPv4(address)) {
    throw new LabError(
      'WebServiceUnavailable',
      502,
      `The address of service "${service}" could not be read. Reset the lab and try again.`,
    );
  }
  return address;
}

/** True for RFC 1918 addresses, where Docker puts its bridge networks by default. */
export function isPrivateIPv4(address: string): boolean {
  const [a, b] = address.split('.').map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

function forwardHeaders(request: Request, web: LabWebService, prefix: string): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (!HOP_BY_HOP.includes(name)) headers[name] = value;
  }

  // The sandbox's own cookies pass through; this server's never do.
  const cookies = [...parseCookies(request.get('cookie'))].filter(([name]) => !isOwnCookie(name));
  if (cookies.length > 0)
    headers.cookie = cookies.map(([name, value]) => `${name}=${value}`).join('; ');

  headers.host = web.port === 80 ? web.service : `${web.service}:${web.port}`;
  headers['x-forwarded-prefix'] = prefix;
  headers['x-forwarded-host'] = request.get('host');
  return headers;
}

function copyReplyHeaders(
  headers: IncomingHttpHeaders,
  response: Response,
  prefix: string,
  address: string,
): void {
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.includes(name) || ORIGIN_WIDE.includes(name)) continue;
    if (name === 'link') {
      const links = withoutServiceWorkerLinks(value);
      if (links.length > 0) response.setHeader(name, links);
    } else if (name === 'set-cookie') {
      response.setHeader(
        name,
        (value as string[]).flatMap((cookie) => scopeCookie(cookie, prefix)),
      );
    } else if (name === 'location') {
      response.setHeader(name, rewriteLocation(String(value), prefix, address));
    } else {
      response.setHeader(name, value);
    }
  }
}

/** Drops the Link entries that ask to install a service worker (rel=serviceworker). */
function withoutServiceWorkerLinks(value: string | string[]): string[] {
  const entries = (Array.isArray(value) ? value : [value]).flatMap((header) =>
    header.split(/,(?=\s*<)/),
  );
  return entries
    .filter((entry) => !/;\s*rel\s*=\s*"?[^";]*\bserviceworker\b/i.test(entry))
    .map((entry) => entry.trim());
}

/** Keeps a sandbox cookie inside the proxy's path, and drops any that would shadow this server's. */
function scopeCookie(cookie: string, prefix: string): string[] {
  const name = cookie.slice(0, cookie.indexOf('=')).trim();
  if (isOwnCookie(name)) return [];

  const withoutPath = cookie
    .split(';')
    .filter((part) => !/^\s*path=/i.test(part) && !/^\s*domain=/i.test(part));
  return [[...withoutPath, ` Path=${prefix}/`].join(';')];
}

/** Maps a redirect to a path or to the container itself back under the proxy's prefix. */
export function rewriteLocation(location: string, prefix: string, address: string): string {
  if (location.startsWith('/') && !location.startsWith('//')) return `${prefix}${location}`;

  try {
    const url = new URL(location);
    if (url.hostname !== address && !/^[a-z0-9-]+$/.test(url.hostname)) return location;
    return `${prefix}${url.pathname}${url.search}${url.hash}`;
  } catch {
    return location;
  }
}

function queryOf(url: string): string {
  const index = url.indexOf('?');
  return index === -1 ? '' : url.slice(index);
}
