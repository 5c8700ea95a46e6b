import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';

import { loadLabFile, loadLabs } from '../../lab-server/src/labs/load.ts';
import { LabDefinitionError, parseLab, revealedHints } from '../../lab-server/src/labs/schema.ts';
import { ROOT } from '../helpers/lab-server.ts';

function validLab(): Record<string, any> {
  return {
    id: 'sample',
    title: 'Sample',
    summary: 'A lab for tests.',
    minutes: 5,
    services: { web: { image: 'webserver' } },
    terminals: [{ id: 'web', title: 'web', service: 'web' }],
    steps: [
      {
        id: 'one',
        title: 'One',
        body: 'Do it.',
        commands: [{ run: 'true' }],
        check: { service: 'web', run: 'true' },
        hints: ['Try harder.'],
        solution: 'true',
      },
    ],
  };
}

function problemsOf(document: unknown): string[] {
  try {
    parseLab('sample.yaml', document);
  } catch (error) {
    assert.ok(error instanceof LabDefinitionError);
    return error.problems;
  }
  assert.fail('the lab was accepted');
}

describe('lab schema', () => {
  test('accepts a valid lab with defaults', () => {
    const lab = parseLab('sample.yaml', validLab());

    assert.equal(lab.terminals[0]!.shell, 'bash');
    assert.deepEqual(lab.services.web!.environment, {});
    assert.equal(lab.steps[0]!.commands[0]!.interrupt, false);
    assert.equal(lab.steps[0]!.check.mode, 'once');
    assert.deepEqual(lab.steps[0]!.solution, { run: 'true' });
    assert.deepEqual(lab.web, []);
  });

  test('hints escalate by failures', () => {
    const document = validLab();
    document.steps[0].hints = ['first', 'second', { text: 'third', afterFailures: 10 }];

    const step = parseLab('sample.yaml', document).steps[0]!;

    assert.deepEqual(revealedHints(step, 0), []);
    assert.deepEqual(revealedHints(step, 1), ['first']);
    assert.deepEqual(revealedHints(step, 2), ['first']);
    assert.deepEqual(revealedHints(step, 3), ['first', 'second']);
    assert.deepEqual(revealedHints(step, 10), ['first', 'second', 'third']);
  });

  test('accepts T2 annotation with two terminals', () => {
    const document = validLab();
    document.terminals.push({ id: 'second', title: 'second', service: 'web' });
    document.steps[0].body = 'Run `ls`{{exec T2}} there.';

    assert.doesNotThrow(() => parseLab('sample.yaml', document));
  });

  const cases: [string, (lab: Record<string, any>) => void, RegExp][] = [
    [
      'unknown image',
      (lab) => (lab.services.web.image = 'mysql'),
      /^services\.web\.image: use one of the teaching images: .*webserver/,
    ],
    ['missing check', (lab) => delete lab.steps[0].check, /^steps\.0\.check: /],
    ['no hints', (lab) => (lab.steps[0].hints = []), /^steps\.0\.hints: /],
    [
      'terminal of unknown service',
      (lab) => (lab.terminals[0].service = 'db'),
      /^terminals\.0\.service: no service "db"; use one of: web/,
    ],
    [
      'check in unknown service',
      (lab) => (lab.steps[0].check.service = 'db'),
      /^steps\.0\.check\.service: no service "db"/,
    ],
    [
      'command to unknown terminal',
      (lab) => (lab.steps[0].commands[0].terminal = 't2'),
      /^steps\.0\.commands\.0\.terminal: no terminal "t2"/,
    ],
    [
      'duplicate step id',
      (lab) => lab.steps.push({ ...lab.steps[0] }),
      /^steps\.1\.id: step id "one" is used twice/,
    ],
    [
      'unknown field',
      (lab) => (lab.services.web.privileged = true),
      /^services\.web: Unrecognized key/,
    ],
    ['upper-case id', (lab) => (lab.id = 'Sample'), /^id: use lower-case letters/],
    [
      'bad user name',
      (lab) => (lab.terminals[0].user = 'root; rm -rf /'),
      /^terminals\.0\.user: use a user name or a numeric uid/,
    ],
    [
      'relative working dir',
      (lab) => (lab.services.web.workingDir = 'tmp'),
      /^services\.web\.workingDir: /,
    ],
    ['shell not allowed', (lab) => (lab.terminals[0].shell = 'zsh'), /^terminals\.0\.shell: /],
    ['missing solution', (lab) => delete lab.steps[0].solution, /^steps\.0\.solution: /],
    ['unknown check mode', (lab) => (lab.steps[0].check.mode = 'loop'), /^steps\.0\.check\.mode: /],
    [
      'solution in unknown service',
      (lab) => (lab.steps[0].solution = { service: 'db', run: 'true' }),
      /^steps\.0\.solution\.service: no service "db"/,
    ],
    [
      'setup in unknown service',
      (lab) => (lab.steps[0].setup = { service: 'db', run: 'true' }),
      /^steps\.0\.setup\.service: no service "db"/,
    ],
    [
      'web of unknown service',
      (lab) => (lab.web = [{ id: 'site', title: 'Site', service: 'db' }]),
      /^web\.0\.service: no service "db"/,
    ],
    [
      'exec to missing terminal',
      (lab) => (lab.steps[0].body = '`ls`{{exec T3}}'),
      /^steps\.0\.body: \{\{exec T3\}\} names no terminal; use T1 to T1 or one of: web/,
    ],
    [
      'dependency cycle',
      (lab) => {
        lab.services.db = { image: 'base', dependsOn: ['web'] };
        lab.services.web.dependsOn = ['db'];
      },
      /^services: services depend on each other in a cycle: (web -> db -> web|db -> web -> db)/,
    ],
  ];

  for (const [name, mutate, expected] of cases) {
    test(`rejects ${name}`, () => {
      const lab = validLab();
      mutate(lab);

      const problems = problemsOf(lab);

      assert.ok(
        problems.some((problem) => expected.test(problem)),
        `problems were:\n${problems.join('\n')}`,
      );
    });
  }

  test('error names the file', () => {
    assert.throws(
      () => parseLab('content/labs/broken.yaml', {}),
      /Invalid lab definition content\/labs\/broken\.yaml/,
    );
  });
});

describe('lab files', () => {
  let folder: string;

  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'ddev-lab-labs-'));
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  test('every lab in content/labs is valid', async () => {
    const labs = await loadLabs(path.join(ROOT, 'content/labs'));

    assert.ok(labs.has('inside-the-web-container'));
    for (const lab of labs.values())
      assert.ok(lab.steps.length >= 3, `${lab.id} has fewer than three steps`);
  });

  test('rejects id unlike file name', async () => {
    const file = path.join(folder, 'other.yaml');
    await writeFile(file, stringify(validLab()));

    await assert.rejects(loadLabFile(file), /id: "sample" must match the file name "other"/);
  });

  test('rejects YAML syntax error', async () => {
    const file = path.join(folder, 'sample.yaml');
    await writeFile(file, 'id: [unclosed\n');

    await assert.rejects(
      loadLabFile(file),
      (error: unknown) =>
        error instanceof LabDefinitionError && /YAML syntax/.test(error.problems[0]!),
    );
  });
});
