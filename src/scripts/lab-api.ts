// Calls to the lab server's REST API from the page. Errors carry the server's message.

export interface SessionInfo {
  sessionId: string;
  labId: string;
  token: string;
  expiresAt: string;
  terminals: { id: string; title: string }[];
}

export interface CheckResult {
  stepId: string;
  passed: boolean;
  message: string;
  hint?: string;
}

export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

async function request<T>(method: string, url: string, token?: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';

  let response: Response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'The lab server did not respond. Is `npm start` running?');
  }

  if (response.status === 204) return undefined as T;
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, payload.message ?? `The lab server replied ${response.status}.`);
  return payload as T;
}

export function startSession(labId: string): Promise<SessionInfo> {
  return request('POST', '/api/sessions', undefined, { labId });
}

export async function resumeSession(saved: SessionInfo): Promise<SessionInfo | undefined> {
  try {
    const info = await request<Omit<SessionInfo, 'token'>>('GET', `/api/sessions/${saved.sessionId}`, saved.token);
    return { ...info, token: saved.token };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 401)) return undefined;
    throw error;
  }
}

export function stopSession(session: SessionInfo): Promise<void> {
  return request('DELETE', `/api/sessions/${session.sessionId}`, session.token);
}

export function runCheck(session: SessionInfo, stepId: string): Promise<CheckResult> {
  return request('POST', `/api/sessions/${session.sessionId}/steps/${stepId}/check`, session.token);
}
