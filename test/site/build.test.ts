// The site build must print no warning: a warning today is a broken page or link tomorrow.
// It builds into a temporary folder, so the other site tests can read dist/ meanwhile.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { ROOT } from './helpers/site.ts';

const ANSI_ESCAPE = /\u001b\[[0-9;]*m/g;

function runBuild(outDir: string): Promise<{ code: number | null; output: string }> {
  const astro = path.join(ROOT, 'node_modules', 'astro', 'bin', 'astro.mjs');
  const child = spawn(process.execPath, [astro, 'build', '--outDir', outDir], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });

  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.replace(ANSI_ESCAPE, '') }));
  });
}

let outDir: string | undefined;

after(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

test('astro build prints no warning', { timeout: 180_000 }, async () => {
  outDir = await mkdtemp(path.join(tmpdir(), 'ddev-lab-site-'));

  const { code, output } = await runBuild(outDir);

  assert.equal(code, 0, `astro build failed:\n${output}`);
  const warnings = output.split('\n').filter((line) => /\[WARN\]|^\s*\(!\)/.test(line));
  assert.deepEqual(warnings, [], `astro build printed warnings:\n${warnings.join('\n')}`);
});
