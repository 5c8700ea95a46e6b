// `npm test`: the format and type checks, then the images and the site the tests run against (built only
// when missing or changed), then every test file in one `node --test` run, one file at a time
// because the integration and browser tests share one Docker Engine.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';

import { ensureSite } from '../lab-server/src/site.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const node = process.execPath;

function run(title: string, command: string, args: string[]): void {
  process.stdout.write(`\n== ${title}\n`);
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(
      `\nnpm test: "${title}" failed (exit code ${result.status ?? result.signal}).\n`,
    );
    process.exit(result.status ?? 1);
  }
}

const only = process.argv.slice(2);
const patterns =
  only.length > 0
    ? only
    : [
        'test/unit/**/*.test.ts',
        'test/integration/**/*.test.ts',
        'test/e2e/**/*.test.ts',
        'test/site/**/*.test.ts',
      ];

// `astro sync` writes .astro/types.d.ts, which declares astro:content and the CSS imports that
// tsc needs; a fresh clone does not have it yet.
run('astro sync', node, ['node_modules/astro/bin/astro.mjs', 'sync']);
run('format check (npm run format fixes it)', node, [
  'node_modules/prettier/bin/prettier.cjs',
  '--check',
  '.',
]);
run('type check', node, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit']);
run('teaching images', node, ['lab-server/src/images/cli.ts']);
process.stdout.write('\n== site\n');
await ensureSite({ root: ROOT, siteDir: path.join(ROOT, 'dist'), log: pino() });
run('tests', node, ['--test', '--test-concurrency=1', '--test-timeout=600000', ...patterns]);
