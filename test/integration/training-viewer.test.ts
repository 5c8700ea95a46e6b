// The instructor's read-only terminal view against a real lab server and real Docker: it sees
// the learner's output, nothing typed into it reaches the shell, and it needs the instructor token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';

import { removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { TestTerminal } from '../helpers/terminal-client.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../lab-server/src/terminal/protocol.ts';

const LAB = 'inside-the-web-container';
const INSTRUCTOR_TOKEN = 'viewer-test-token-0123456789';

/** A bare read-only viewer: collects output text and statuses; can send any frame. */
async function openViewer(server: RunningServer, sessionId: string, token = INSTRUCTOR_TOKEN) {
  const url = `${server.url.replace(/^http/, 'ws')}/ws/instructor/sessions/${sessionId}/terminals/web`;
  const socket = new WebSocket(url, ['ddev-lab.v1', `ddev-lab.instructor.${token}`], {
    origin: server.url,
  });
  const seen = { text: '', statuses: [] as string[] };
  socket.on('message', (data: Buffer) => {
    const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (frame.type === 'output') seen.text += Buffer.from(frame.data).toString('latin1');
    if (frame.type === 'status') seen.statuses.push(`${frame.state}: ${frame.message}`);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_request, response) =>
      reject(
        Object.assign(new Error(`rejected ${response.statusCode}`), {
          status: response.statusCode,
        }),
      ),
    );
    socket.once('error', reject);
  });
  const send = (frame: Frame) => socket.send(encodeFrame(frame));
  return { socket, seen, send };
}

async function waitFor(read: () => string, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pattern.test(read())) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no match for ${pattern} within ${timeoutMs} ms in:\n${read().slice(-1500)}`);
}

describe('read-only terminal view', () => {
  const instance = uniqueInstance('it-viewer');
  let server: RunningServer;

  before(async () => {
    server = await startLabServer({
      instance,
      env: { LAB_DATABASE: ':memory:', LAB_INSTRUCTOR_TOKEN: INSTRUCTOR_TOKEN },
    });
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
  });

  test('viewer input never reaches the shell', async () => {
    const response = await fetch(`${server.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labId: LAB }),
    });
    assert.equal(response.status, 201);
    const session = (await response.json()) as { sessionId: string; token: string };
    await using learner = await TestTerminal.open(server.url, session.sessionId, session.token);
    learner.type('echo learner-$((40+2))\r');
    await learner.waitFor(/learner-42/);

    const viewer = await openViewer(server, session.sessionId);
    await waitFor(() => viewer.seen.text, /learner-42/);
    viewer.send({
      type: 'input',
      data: new TextEncoder().encode('touch /tmp/viewer-was-here; echo viewer-$((3*3))\r'),
    });
    viewer.send({ type: 'resize', cols: 20, rows: 5 });
    await waitFor(() => viewer.seen.statuses.join('\n'), /read-only/);
    learner.type('echo after-$((5+5)); ls /tmp/viewer-was-here 2>&1; stty size\r');

    await learner.waitFor(/after-10[\s\S]*No such file[\s\S]*\n\d+ \d+/);
    await waitFor(() => viewer.seen.text, /after-10/);
    assert.doesNotMatch(learner.output(), /viewer-9/);
    assert.doesNotMatch(learner.output(), /^5 20\s*$/m);
    assert.equal(viewer.socket.readyState, WebSocket.OPEN);
    viewer.socket.close();
  });

  test('viewer needs the instructor token', async () => {
    const response = await fetch(`${server.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labId: LAB }),
    });
    const session = (await response.json()) as { sessionId: string; token: string };

    await assert.rejects(openViewer(server, session.sessionId, 'wrong-token-0123456789'), {
      status: 401,
    });
    await assert.rejects(openViewer(server, session.sessionId, session.token), { status: 401 });
  });
});
