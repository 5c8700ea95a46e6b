// Builds the static site with `astro build` when its sources changed since the last build, so a
// second `npm start` reuses dist/. The stamp is a hash of every source file's path and content.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { Logger } from './log.ts';

const SOURCES = ['astro.config.mjs', 'package-lock.json', 'public', 'src', 'content'];
const STAMP_FILE = '.source-hash';

export async function ensureSite(options: {
  root: string;
  siteDir: string;
  log: Logger;
}): Promise<'built' | 'reused'> {
  const hash = await hashSources(options.root);
  const stampPath = path.join(options.siteDir, STAMP_FILE);
  const stamp = existsSync(stampPath) ? await readFile(stampPath, 'utf8') : '';

  if (stamp === hash && existsSync(path.join(options.siteDir, 'index.html'))) {
    options.log.info({ siteDir: options.siteDir }, 'site is up to date');
    return 'reused';
  }

  options.log.info({ siteDir: options.siteDir }, 'building the site with astro build');
  await runAstroBuild(options.root, options.siteDir);
  await writeFile(stampPath, hash);
  return 'built';
}

async function hashSources(root: string): Promise<string> {
  const hash = createHash('sha256');
  for (const source of SOURCES) {
    for (const file of await listFiles(path.join(root, source))) {
      hash.update(path.relative(root, file));
      hash.update('\0');
      hash.update(await readFile(file));
      hash.update('\0');
    }
  }
  return hash.digest('hex');
}

async function listFiles(target: string): Promise<string[]> {
  if (!existsSync(target)) return [];
  const entries = await readdir(target, { withFileTypes: true, recursive: true }).catch(() => null);
  if (entries === null) return [target];

  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

function runAstroBuild(root: string, siteDir: string): Promise<void> {
  const astro = path.join(root, 'node_modules', 'astro', 'bin', 'astro.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [astro, 'build', '--outDir', siteDir], {
      cwd: root,
      stdio: 'inherit',
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(`astro build failed with exit code ${code}; its output above shows the error.`),
        );
    });
  });
}
