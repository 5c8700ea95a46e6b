// Calls to the lab server's REST API from the page. Errors carry the server's message. The
// learner cookie rides along on every call, so the server knows whose progress it is.

export interface SessionInfo {
  sessionId: string;
  labId: string;
  token: string;
  expiresAt: string;
  maxExpiresAt: string;
  terminals: { id: string; title: string }[];
  web: { id: string; title: string; url: string }[];
  passedSteps: string[];
}

export interface Progress {
  labId: string;
  passedSteps: string[];
  /** Hints already earned, by step id. */
  hints: Record<string, string[]>;
  session: SessionInfo | null;
}

export interface CheckResult {
  stepId: string;
  passed: boolean;
  message: string;
  hints: string[];
  passedSteps: string[];
}

export interface SessionTimes {
  expiresAt: string;
  maxExpiresAt: string;
}

export class ApiError extends Error {
  readonly status: number;
  /** Seconds the server asked to wait before trying again (its Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

async function request<T>(method: string, url: string, token?: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';

  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'The lab server did not respond. Is `npm start` running?');
  }

  if (response.status === 204) return undefined as T;
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
    throw new ApiError(
      response.status,
      payload.message ?? `The lab server replied ${response.status}.`,
      Number.isFinite(retryAfter) ? retryAfter : undefined,
    );
  }
  return payload as T;
}

const sessionUrl = (session: SessionInfo, rest = '') => `/api/sessions/${session.sessionId}${rest}`;

export function loadProgress(labId: string): Promise<Progress> {
  return request('GET', `/api/labs/${labId}/progress`);
}

export function startSession(labId: string): Promise<SessionInfo> {
  return request('POST', '/api/sessions', undefined, { labId });
}

export function stopSession(session: SessionInfo): Promise<void> {
  return request('DELETE', sessionUrl(session), session.token);
}

export function resetSession(session: SessionInfo): Promise<SessionInfo> {
  return request('POST', sessionUrl(session, '/reset'), session.token);
}

export function extendSession(session: SessionInfo): Promise<SessionTimes> {
  return request('POST', sessionUrl(session, '/extend'), session.token);
}

export function sendHeartbeat(session: SessionInfo, active: boolean): Promise<SessionTimes> {
  return request('POST', sessionUrl(session, '/heartbeat'), session.token, { active });
}

export function runCheck(
  session: SessionInfo,
  stepId: string,
  wait: boolean,
): Promise<CheckResult> {
  return request('POST', sessionUrl(session, `/steps/${stepId}/check`), session.token, { wait });
}

export function restartStep(
  session: SessionInfo,
  stepId: string,
): Promise<{ passedSteps: string[] }> {
  return request('POST', sessionUrl(session, `/steps/${stepId}/restart`), session.token);
}
