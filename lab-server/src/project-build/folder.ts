// Reads a project's .ddev/web-build or .ddev/db-build folder the way `ddev start` does
// (DDEV v1.25): three groups of Dockerfile fragments, each in lexical order, and the other files
// that go into the build context. A symbolic link that leads outside the folder is rejected.
import { lstat, readFile, readdir, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

import { BuildFolderError } from './errors.ts';

export type FragmentGroup = 'prepend' | 'pre' | 'main';

export interface Fragment {
  group: FragmentGroup;
  /** File name inside the folder; fragments are top-level files only. */
  name: string;
  content: string;
}

export interface BuildFolder {
  /** Absolute path of the folder. */
  root: string;
  /** Fragments in the order they are written: prepend, then pre, then main, each sorted. */
  fragments: Fragment[];
  /** Paths relative to the root, with `/` separators, of everything copied into the context. */
  contextFiles: string[];
  /** Top-level files skipped because their name ends in `.example`. */
  skipped: string[];
}

const GROUP_PREFIXES: ReadonlyArray<[FragmentGroup, string]> = [
  ['prepend', 'prepend.Dockerfile'],
  ['pre', 'pre.Dockerfile'],
  ['main', 'Dockerfile'],
];

/** Returns the group of a top-level file name, or undefined when it is not a fragment name. */
export function fragmentGroup(name: string): FragmentGroup | undefined {
  return GROUP_PREFIXES.find(([, prefix]) => name.startsWith(prefix))?.[0];
}

/** Compares by UTF-8 bytes, as Go's sort.Strings orders the names that filepath.Glob returns. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Reads the folder; a missing folder reads as empty, as `ddev start` creates it when absent. */
export async function readBuildFolder(folder: string): Promise<BuildFolder> {
  const root = path.resolve(folder);
  const empty: BuildFolder = { root, fragments: [], contextFiles: [], skipped: [] };

  const info = await lstat(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!info) return empty;
  if (!info.isDirectory()) {
    throw new BuildFolderError(
      `${path.basename(root)} is not a folder. Make it a folder of Dockerfile fragments.`,
    );
  }

  const realRoot = await realpath(root);
  const names = (await readdir(root)).sort(compareBytes);
  const fragments: Fragment[] = [];
  const skipped: string[] = [];
  const contextFiles: string[] = [];

  for (const name of names) {
    const group = fragmentGroup(name);
    if (!group && !(await isDdevReadme(root, name))) {
      contextFiles.push(...(await listContext(root, realRoot, name)));
      continue;
    }
    if (!group) continue;
    if (name.endsWith('.example')) {
      skipped.push(name);
      continue;
    }

    const fragment = await readFragment(root, realRoot, name, group);
    if (fragment) fragments.push(fragment);
  }

  const order: FragmentGroup[] = ['prepend', 'pre', 'main'];
  fragments.sort(
    (a, b) => order.indexOf(a.group) - order.indexOf(b.group) || compareBytes(a.name, b.name),
  );
  return { root, fragments, contextFiles, skipped };
}

async function readFragment(
  root: string,
  realRoot: string,
  name: string,
  group: FragmentGroup,
): Promise<Fragment | undefined> {
  const file = path.join(root, name);
  await checkLink(root, realRoot, name);

  // filepath.Glob also matches folders; a folder named like a fragment adds nothing.
  if (!(await stat(file)).isFile()) return undefined;
  return { group, name, content: await readFile(file, 'utf8') };
}

/** Lists a top-level entry and, for a folder, everything under it, checking every link. */
async function listContext(root: string, realRoot: string, relative: string): Promise<string[]> {
  const info = await lstat(path.join(root, relative));
  if (info.isSymbolicLink()) {
    await checkLink(root, realRoot, relative);
    return [toPosix(relative)];
  }
  if (!info.isDirectory()) return info.isFile() ? [toPosix(relative)] : [];

  const found = [toPosix(relative)];
  const children = (await readdir(path.join(root, relative))).sort(compareBytes);
  for (const child of children) {
    found.push(...(await listContext(root, realRoot, path.join(relative, child))));
  }
  return found;
}

/**
 * Rejects a symbolic link whose target is absolute, leads outside the folder by its path, or
 * resolves outside it through other links. A link that does not resolve is rejected too, as the
 * build could not copy it.
 */
export async function checkLink(root: string, realRoot: string, relative: string): Promise<void> {
  const file = path.join(root, relative);
  if (!(await lstat(file)).isSymbolicLink()) return;

  const target = await readlink(file);
  const shown = toPosix(relative);
  const lexical = path.resolve(path.dirname(file), target);
  if (path.isAbsolute(target) || !isInside(root, lexical)) {
    throw escapingLink(shown, target);
  }

  const resolved = await realpath(file).catch(() => undefined);
  if (resolved === undefined) {
    throw new BuildFolderError(
      `The symbolic link ${shown} points to "${target}", which does not exist. Remove the link or create its target.`,
    );
  }
  if (!isInside(realRoot, resolved)) throw escapingLink(shown, target);
}

function escapingLink(name: string, target: string): BuildFolderError {
  return new BuildFolderError(
    `The symbolic link ${name} points to "${target}", outside the build folder. ` +
      'A build may only use files inside the folder: copy the file in instead of linking to it.',
  );
}

/** True when DDEV wrote the file: it skips its own README.txt when it fills the context. */
async function isDdevReadme(root: string, name: string): Promise<boolean> {
  if (name !== 'README.txt') return false;
  const info = await lstat(path.join(root, name));
  if (!info.isFile()) return false;

  const head = (await readFile(path.join(root, name), 'utf8')).slice(0, 200);
  return head.includes('#ddev-generated');
}

export function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  const outside =
    relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
  return !outside;
}

function toPosix(relative: string): string {
  return relative.split(path.sep).join('/');
}
