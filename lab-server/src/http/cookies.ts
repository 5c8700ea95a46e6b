// The two cookies of the lab API. The learner cookie names an anonymous learner, so progress
// survives a reload and a server restart. The web cookie carries a session's token to the proxy
// of its web services, because a link opened in a new tab sends no Authorization header.
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';

export const LEARNER_COOKIE = 'ddevlab_learner';
const WEB_COOKIE_PREFIX = 'ddevlab_web_';
const LEARNER_ID = /^[A-Za-z0-9_-]{43}$/;
const ONE_YEAR_SECONDS = 365 * 24 * 3600;

/** Parses the Cookie header into a map; a repeated name keeps its first value. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const separator = part.indexOf('=');
    if (separator < 1) continue;

    const name = part.slice(0, separator).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(separator + 1).trim());
  }
  return cookies;
}

/** Returns the request's learner id, creating one (and its cookie) when it has none. */
export function learnerOf(request: Request, response: Response): string {
  const existing = parseCookies(request.get('cookie')).get(LEARNER_COOKIE);
  if (existing && LEARNER_ID.test(existing)) return existing;

  const learnerId = randomBytes(32).toString('base64url');
  response.append(
    'Set-Cookie',
    serializeCookie(LEARNER_COOKIE, learnerId, '/api', ONE_YEAR_SECONDS),
  );
  return learnerId;
}

export function webCookieName(sessionId: string): string {
  return `${WEB_COOKIE_PREFIX}${sessionId}`;
}

/** Gives the page's browser the session token for the web proxy, scoped to that session's path. */
export function setWebCookie(
  response: Response,
  sessionId: string,
  token: string,
  maxAgeSeconds: number,
): void {
  response.append(
    'Set-Cookie',
    serializeCookie(webCookieName(sessionId), token, webPathOf(sessionId), maxAgeSeconds),
  );
}

export function webPathOf(sessionId: string): string {
  return `/api/sessions/${sessionId}/web/`;
}

/** True for the cookies this server sets, which the proxy never passes on to a container. */
export function isOwnCookie(name: string): boolean {
  return name === LEARNER_COOKIE || name.startsWith(WEB_COOKIE_PREFIX);
}

function serializeCookie(name: string, value: string, path: string, maxAgeSeconds: number): string {
  // SameSite=Strict: no other site can make the browser send these. Secure is left off because
  // a training room often serves plain HTTP on a LAN address.
  return `${name}=${value}; Path=${path}; Max-Age=${Math.max(1, Math.round(maxAgeSeconds))}; HttpOnly; SameSite=Strict`;
}
