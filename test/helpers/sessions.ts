// Starting and stopping lab sessions through the lab server's API, as the page does.
import assert from 'node:assert/strict';

import type { RunningServer } from './lab-server.ts';

export const DEFAULT_LAB = 'inside-the-web-container';

export interface StartedSession {
  sessionId: string;
  token: string;
  expiresAt: string;
}

/** Starts a session of the lab and fails the test unless the server answers 201. */
export async function startSession(
  server: RunningServer,
  labId = DEFAULT_LAB,
): Promise<StartedSession> {
  const response = await fetch(`${server.url}/api/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ labId }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return (await response.json()) as StartedSession;
}

/** Stops the session with its token and fails the test unless the server answers 204. */
export async function stopSession(server: RunningServer, session: StartedSession): Promise<void> {
  const response = await fetch(`${server.url}/api/sessions/${session.sessionId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${session.token}` },
  });
  assert.equal(response.status, 204);
}
