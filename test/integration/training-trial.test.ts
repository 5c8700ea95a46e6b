// A measured trial, not a pass/fail bound: TRAINING_TRIAL_LEARNERS learners (unset skips it)
// join one training through the API, start the web container lab, type the first step's command
// into their terminal and pass its check. It prints how many made it, the time each took and the
// host's memory; the numbers depend on the machine, so no threshold is asserted.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { freemem, tmpdir, totalmem, cpus } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { TestTerminal } from '../helpers/terminal-client.ts';

const LEARNERS = Number(process.env.TRAINING_TRIAL_LEARNERS ?? 0);
/** Learners who press Start at the same moment: a room arrives in waves. */
const WAVE = Number(process.env.TRAINING_TRIAL_WAVE ?? 6);
const TOKEN = 'trial-instructor-token-0123456789';

describe(
  'training trial',
  { skip: LEARNERS === 0 && 'set TRAINING_TRIAL_LEARNERS to run it' },
  () => {
    const instance = uniqueInstance('trial');
    let server: RunningServer | undefined;
    let folder: string | undefined;

    after(async () => {
      await server?.kill('SIGTERM');
      await removeInstance(instance);
      if (folder) await rm(folder, { recursive: true, force: true });
    });

    test('learners join and pass a step', { timeout: 30 * 60_000 }, async () => {
      folder = await mkdtemp(path.join(tmpdir(), 'ddev-lab-trial-'));
      server = await startLabServer({
        instance,
        env: {
          LAB_DATABASE: path.join(folder, 'state.sqlite'),
          LAB_INSTRUCTOR_TOKEN: TOKEN,
          LAB_MAX_SESSIONS: String(LEARNERS + 5),
          LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '1000',
          LAB_LOG_LEVEL: 'warn',
        },
      });
      const url = server.url;
      const created = await fetch(`${url}/api/instructor/trainings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'Trial',
          labs: ['inside-the-web-container'],
          minutes: 60,
          expectedLearners: LEARNERS,
        }),
      });
      const { joinCode } = (await created.json()) as { joinCode: string };

      const started = Date.now();
      const results: { ok: boolean; seconds: number; error?: string }[] = [];
      for (let first = 0; first < LEARNERS; first += WAVE) {
        const wave = Array.from({ length: Math.min(WAVE, LEARNERS - first) }, (_, index) =>
          learner(url, joinCode, `Learner ${first + index + 1}`),
        );
        results.push(...(await Promise.all(wave)));
      }
      const memoryUsedGiB = (totalmem() - freemem()) / 2 ** 30;

      const passed = results.filter((result) => result.ok);
      const seconds = passed.map((result) => result.seconds).sort((a, b) => a - b);
      const report = {
        learners: LEARNERS,
        passed: passed.length,
        cpus: cpus().length,
        hostMemoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
        memoryUsedGiB: Number(memoryUsedGiB.toFixed(1)),
        medianSeconds: seconds[Math.floor(seconds.length / 2)],
        slowestSeconds: seconds.at(-1),
        totalSeconds: Math.round((Date.now() - started) / 1000),
        errors: results
          .filter((result) => !result.ok)
          .map((result) => result.error)
          .slice(0, 5),
      };
      process.stdout.write(`\ntraining trial: ${JSON.stringify(report)}\n`);
      assert.ok(report.passed > 0, 'no learner passed the step');
    });
  },
);

/** One learner: join, Start, type the step's command, pass the check. */
async function learner(
  url: string,
  code: string,
  name: string,
): Promise<{ ok: boolean; seconds: number; error?: string }> {
  const started = Date.now();
  try {
    const joined = await fetch(`${url}/api/trainings/join`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, name }),
    });
    assert.equal(joined.status, 201, await joined.clone().text());
    const cookie = joined.headers.get('set-cookie')!.split(';')[0]!;

    const response = await fetch(`${url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ labId: 'inside-the-web-container' }),
    });
    assert.equal(response.status, 201, await response.clone().text());
    const session = (await response.json()) as { sessionId: string; token: string };

    await using terminal = await TestTerminal.open(url, session.sessionId, session.token);
    terminal.type('ps -o comm= -p 1 > ~/pid1.txt && echo saved-$((1+1))\r');
    await terminal.waitFor(/saved-2/, 60_000);

    const check = await fetch(`${url}/api/sessions/${session.sessionId}/steps/pid-one/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.token}`, cookie },
    });
    const result = (await check.json()) as { passed: boolean; message: string };
    return {
      ok: result.passed,
      seconds: (Date.now() - started) / 1000,
      error: result.passed ? undefined : result.message,
    };
  } catch (error) {
    return {
      ok: false,
      seconds: (Date.now() - started) / 1000,
      error: (error as Error).message.slice(0, 200),
    };
  }
}
