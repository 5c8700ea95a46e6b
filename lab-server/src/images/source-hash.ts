// The content hash that decides whether an image is up to date: it covers every file of the
// image's folder (path, executable bit and bytes), the build arguments and the parent's image id,
// so a change to any of them, or a rebuilt parent, makes the image out of date.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export interface HashInput {
  folder: string;
  buildArgs: Record<string, string>;
  parentId: string;
}

/** Returns a sha256 hex digest of the folder's files, the build arguments and the parent id. */
export async function sourceHash(input: HashInput): Promise<string> {
  const hash = createHash('sha256');

  for (const file of await listFiles(input.folder)) {
    const path = join(input.folder, file);
    const mode = (await stat(path)).mode & 0o111 ? 'x' : '-';
    const content = await readFile(path);
    hash.update(`file ${file} ${mode} ${content.length}\n`);
    hash.update(content);
  }

  const args = Object.keys(input.buildArgs).sort();
  for (const key of args) hash.update(`arg ${key}=${input.buildArgs[key]}\n`);

  hash.update(`parent ${input.parentId}\n`);

  return hash.digest('hex');
}

/** Lists the folder's files recursively as sorted, slash-separated relative paths. */
export async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });

  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(folder, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}
