// The Debian slim image that images/base starts FROM. It is reused when the engine has it,
// pulled when a registry answers within a few seconds, and otherwise made offline: debootstrap
// writes a minbase root filesystem, which is trimmed as the official slim images are and
// imported under the same tag, debian:<release>-slim.
import type Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

import { ImageBuildError } from '../errors.ts';
import { LABELS, managedLabels } from './labels.ts';
import { followJsonStream, forwardLines, inspectImage } from './image-stream.ts';
import { slimRootfs } from './image-rootfs-slim.ts';

export type DebianBaseSource = 'local' | 'registry' | 'debootstrap';

export interface DebianBaseResult {
  tag: string;
  id: string;
  source: DebianBaseSource;
}

/** How long a pull may take before the registry counts as unreachable. */
const PULL_TIMEOUT_MS = 5_000;

/** Debian's mirror network; DEBIAN_MIRROR overrides it, for example with a local mirror. */
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

/** Returns debian:<release>-slim from the engine, a registry, or debootstrap, in that order. */
export async function ensureDebianSlim(
  docker: Docker,
  release: string,
  onProgress: (line: string) => void,
): Promise<DebianBaseResult> {
  const tag = `debian:${release}-slim`;

  const existing = await inspectImage(docker, tag);
  if (existing) {
    onProgress(`${tag}: already on this engine, reusing it`);
    return { tag, id: existing.id, source: 'local' };
  }

  onProgress(`${tag}: not on this engine, trying a pull (${PULL_TIMEOUT_MS / 1000} s limit)`);
  if (await tryPull(docker, tag)) {
    const pulled = await inspectImage(docker, tag);
    if (pulled) {
      onProgress(`${tag}: pulled from the registry`);
      return { tag, id: pulled.id, source: 'registry' };
    }
  }

  onProgress(`${tag}: no registry answered, so building it from Debian packages with debootstrap`);
  const id = await bootstrapAndImport(docker, release, tag, onProgress);
  onProgress(`${tag}: imported from a debootstrap root filesystem`);

  return { tag, id, source: 'debootstrap' };
}

async function tryPull(docker: Docker, tag: string): Promise<boolean> {
  const signal = AbortSignal.timeout(PULL_TIMEOUT_MS);

  try {
    const stream: NodeJS.ReadableStream = await docker.pull(tag, { abortSignal: signal });
    const aborted = new Promise<never>((_, reject) => {
      signal.addEventListener('abort', () => reject(new Error('pull timed out')));
    });
    const messages = await Promise.race([followJsonStream(stream, () => {}), aborted]);
    return !messages.some((message) => message.error);
  } catch {
    return false;
  }
}

async function bootstrapAndImport(
  docker: Docker,
  release: string,
  tag: string,
  onProgress: (line: string) => void,
): Promise<string> {
  const debootstrap = await findDebootstrap(tag);
  const workDir = await mkdtemp(join(tmpdir(), 'ddev-lab-rootfs-'));
  const rootfs = join(workDir, 'rootfs');

  try {
    const mirror = process.env.DEBIAN_MIRROR ?? DEFAULT_MIRROR;
    const args = ['--variant=minbase', '--components=main', release, rootfs, mirror];
    await runCommand(tag, debootstrap, args, onProgress);

    onProgress(`${tag}: trimming the root filesystem as the slim images are`);
    await slimRootfs(rootfs, release, mirror);

    onProgress(`${tag}: importing the root filesystem into the engine`);
    return await importRootfs(docker, rootfs, release, tag, onProgress);
  } finally {
    await unmountUnder(workDir);
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Finds debootstrap, checking first that it can run (it needs root to create device nodes). */
async function findDebootstrap(tag: string): Promise<string> {
  if (process.getuid?.() !== 0) {
    throw new ImageBuildError(
      tag,
      'no registry answered, and making the image with debootstrap needs root. ' +
        'Run `npm run images` as root once, or load the image with `docker load`.',
    );
  }

  const path = process.env.PATH ?? '';
  const directories = [...path.split(delimiter), '/usr/sbin', '/sbin'];
  for (const directory of directories) {
    const candidate = join(directory, 'debootstrap');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory; try the next.
    }
  }

  throw new ImageBuildError(
    tag,
    'no registry answered and debootstrap is not installed. ' +
      'Install it (`apt-get install debootstrap` on Debian or Ubuntu), then run `npm run images` again.',
  );
}

async function importRootfs(
  docker: Docker,
  rootfs: string,
  release: string,
  tag: string,
  onProgress: (line: string) => void,
): Promise<string> {
  // GNU tar keeps hard links, owners and extended attributes, which a Node tar packer would not.
  const tar = spawn('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tarExit = waitForExit(tar, tag, 'tar');
  forwardLines(tar.stderr, onProgress);

  const labels = { ...managedLabels({ kind: 'image' }), [LABELS.image]: 'debian-slim' };
  const labelLine = Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
  const stream = await docker.importImage(tar.stdout, {
    repo: 'debian',
    tag: `${release}-slim`,
    message: `debootstrap --variant=minbase ${release}, trimmed like debian:${release}-slim`,
    changes: [`LABEL ${labelLine}`, 'CMD ["bash"]'],
  });
  const messages = await followJsonStream(stream, onProgress);
  await tarExit;

  const failure = messages.find((message) => message.error);
  if (failure) throw new ImageBuildError(tag, `the import failed: ${failure.error}`);

  const imported = await inspectImage(docker, tag);
  if (!imported) throw new ImageBuildError(tag, 'the engine reported no image after the import');
  return imported.id;
}

function runCommand(
  tag: string,
  command: string,
  args: string[],
  onProgress: (line: string) => void,
): Promise<void> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  forwardLines(child.stdout, onProgress);
  forwardLines(child.stderr, onProgress);
  return waitForExit(child, tag, command);
}

function waitForExit(child: ReturnType<typeof spawn>, tag: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.on('error', (error) => reject(new ImageBuildError(tag, `${command}: ${error.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new ImageBuildError(tag, `${command} exited with status ${code}; see the lines above`),
        );
    });
  });
}

/** Unmounts what a failed debootstrap left mounted (proc, sys) so removing the folder is safe. */
async function unmountUnder(directory: string): Promise<void> {
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  const targets = mounts
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((target) => target?.startsWith(`${directory}/`))
    .sort((a, b) => b.length - a.length);

  for (const target of targets) {
    await new Promise((resolve) => spawn('umount', ['-l', target]).on('close', resolve));
  }
}
