// The build context in memory (callers cap it at a few tens of MiB) and the archives that COPY
// and ADD put into a step container: names rewritten to full paths from /, so the engine
// creates missing parent folders, and owners set by --chown.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { extract, pack, type Header, type Pack } from 'tar-stream';

export interface ContextEntry {
  /** Path inside the context: no leading `./` or `/`, no trailing `/`. */
  name: string;
  header: Header;
  data: Buffer;
}

export class BuildStepError extends Error {}

/** Reads a plain tar archive into entries by path. */
export async function readContext(tar: Buffer): Promise<Map<string, ContextEntry>> {
  const entries = new Map<string, ContextEntry>();
  for (const entry of await readTar(tar)) {
    const name = cleanPath(entry.header.name);
    if (name === '') continue;
    entries.set(name, { ...entry, name });
  }
  return entries;
}

/** Reads every entry of a tar archive held in memory. */
export async function readTar(tar: Buffer): Promise<Array<{ header: Header; data: Buffer }>> {
  const reader = extract();
  const found: Array<{ header: Header; data: Buffer }> = [];
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => {
        chunks.push(chunk as Buffer);
      });
      stream.on('end', () => {
        // One chunk is a view of the archive: no copy of it.
        found.push({ header, data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
        next();
      });
      stream.on('error', reject);
    });
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  reader.end(tar);
  await done;
  return found;
}

export function cleanPath(name: string): string {
  const normal = path.posix.normalize(`/${name}`).slice(1);
  return normal.replace(/\/+$/, '');
}

/** A file or folder to copy: its path in the context and the entries under it. */
export interface Selection {
  source: string;
  isDirectory: boolean;
  entries: ContextEntry[];
}

/** Finds the sources in the context, with wildcards as the builder reads them. */
export function selectSources(
  context: Map<string, ContextEntry>,
  sources: string[],
  keyword: string,
): Selection[] {
  const selections: Selection[] = [];
  for (const raw of sources) {
    const source = cleanPath(raw);
    const names = /[*?[]/.test(source)
      ? [...context.keys()].filter((name) => globMatches(source, name))
      : [source];
    const found = names
      .map((name) => selectOne(context, name))
      .filter((selection) => selection !== undefined);
    if (found.length === 0) {
      throw new BuildStepError(
        `${keyword} failed: file not found in build context or excluded by .dockerignore: stat ${raw}: file does not exist`,
      );
    }
    selections.push(...found);
  }
  return selections;
}

function selectOne(context: Map<string, ContextEntry>, name: string): Selection | undefined {
  const prefix = name === '' ? '' : `${name}/`;
  const below = [...context.values()].filter(
    (entry) => prefix === '' || entry.name.startsWith(prefix),
  );
  const own = context.get(name);
  if (own && own.header.type !== 'directory')
    return { source: name, isDirectory: false, entries: [own] };
  if (!own && below.length === 0 && name !== '') return undefined;
  return {
    source: name,
    isDirectory: true,
    entries: below.sort((a, b) => a.name.localeCompare(b.name)),
  };
}

function globMatches(pattern: string, name: string): boolean {
  const patternParts = pattern.split('/');
  const nameParts = name.split('/');
  if (patternParts.length !== nameParts.length) return false;
  return patternParts.every((part, index) => globToRegExp(part).test(nameParts[index]!));
}

function globToRegExp(part: string): RegExp {
  let source = '';
  for (const char of part) {
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Hashes what a COPY or ADD of these selections writes, for the cache and the history line. */
export function hashSelections(selections: Selection[]): string {
  const hash = createHash('sha256');
  for (const selection of selections) {
    hash.update(`${selection.source}\0${selection.isDirectory}\0`);
    for (const entry of selection.entries) {
      const { header } = entry;
      hash.update(
        `${entry.name}\0${header.type}\0${header.mode}\0${header.linkname ?? ''}\0${entry.data.length}\0`,
      );
      hash.update(entry.data);
    }
  }
  return hash.digest('hex');
}

export interface Owner {
  uid: number;
  gid: number;
}

/** One item for the archive: a header with its full path (no leading slash) and the data. */
export interface ArchiveItem {
  header: Header;
  data?: Buffer;
}

/**
 * Lists what a COPY of the selections writes under `destination` (absolute). `intoFolder` is
 * true when the destination is a folder: it ends with a slash, names an existing folder, or
 * several sources go there.
 */
export function copyItems(
  selections: Selection[],
  destination: string,
  intoFolder: boolean,
  owner: Owner,
): ArchiveItem[] {
  const items: ArchiveItem[] = [];
  const put = (header: Header, target: string, data?: Buffer) => {
    items.push({
      header: {
        ...header,
        name: target.slice(1),
        uid: owner.uid,
        gid: owner.gid,
        uname: '',
        gname: '',
      },
      data,
    });
  };

  for (const selection of selections) {
    if (!selection.isDirectory) {
      const entry = selection.entries[0]!;
      const target = intoFolder
        ? path.posix.join(destination, path.posix.basename(entry.name))
        : destination;
      put(entry.header, target, entry.data);
      continue;
    }
    const prefix = selection.source === '' ? '' : `${selection.source}/`;
    for (const entry of selection.entries) {
      if (entry.name === selection.source) continue;
      put(entry.header, path.posix.join(destination, entry.name.slice(prefix.length)), entry.data);
    }
  }
  return items;
}

/**
 * Bytes a compressed archive that ADD unpacks may grow to: the server keeps it in memory, and a
 * small archive of zeros can unpack to gigabytes.
 */
export const ADD_UNPACK_LIMIT = 256 * 1024 * 1024;

/**
 * Reads a local archive that ADD unpacks: plain or gzip-compressed tar; undefined for other files.
 * A compressed one is unpacked up to `limitBytes` (the build's room on disk, when the caller
 * passes it) and ADD_UNPACK_LIMIT at most; past that the step fails before anything is written.
 */
export async function archiveItems(
  entry: ContextEntry,
  destination: string,
  owner: Owner | undefined,
  limitBytes = ADD_UNPACK_LIMIT,
): Promise<ArchiveItem[] | undefined> {
  let tar = entry.data;
  if (tar[0] === 0x1f && tar[1] === 0x8b) {
    const limit = Math.max(0, Math.min(limitBytes, ADD_UNPACK_LIMIT));
    try {
      tar = gunzipSync(tar, { maxOutputLength: Math.max(1, limit) });
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_BUFFER_TOO_LARGE') throw error;
      throw new BuildStepError(
        `ADD failed: ${entry.name} unpacks to more than ${Math.floor(limit / 1024 / 1024)} MiB, more than this build may write. Add a smaller archive, or unpack it in a RUN step.`,
      );
    }
  }
  if (tar.length < 512 || tar.toString('latin1', 257, 262) !== 'ustar') return undefined;

  return (await readTar(tar)).map(({ header, data }) => {
    const target = path.posix.join(destination, cleanPath(header.name));
    const linkname =
      header.type === 'link' && header.linkname
        ? path.posix.join(destination, cleanPath(header.linkname)).slice(1)
        : header.linkname;
    return {
      header: {
        ...header,
        name: target.slice(1),
        linkname,
        ...(owner ? { uid: owner.uid, gid: owner.gid, uname: '', gname: '' } : {}),
      },
      data,
    };
  });
}

/** Returns a tar stream of the items, for putArchive at `/`. */
export function packItems(items: ArchiveItem[]): Readable {
  const packer: Pack = pack();
  void (async () => {
    try {
      for (const item of items) {
        await new Promise<void>((resolve, reject) => {
          const done = (error?: Error | null) => (error ? reject(error) : resolve());
          const isFile = item.header.type === 'file' || item.header.type === 'contiguous-file';
          if (isFile) packer.entry(item.header, item.data ?? Buffer.alloc(0), done);
          else packer.entry(item.header, done);
        });
      }
      packer.finalize();
    } catch (error) {
      packer.destroy(error as Error);
    }
  })();
  return Readable.from(packer as unknown as AsyncIterable<Buffer>);
}

/** Sums the bytes of file data in the items. */
export function itemBytes(items: ArchiveItem[]): number {
  return items.reduce((sum, item) => sum + (item.data?.length ?? 0), 0);
}

/** Returns the archive header of a folder (mode 755) that a step creates, for putArchive at `/`. */
export function dirHeader(name: string, owner: Owner) {
  return {
    name,
    type: 'directory' as const,
    mode: 0o755,
    uid: owner.uid,
    gid: owner.gid,
    mtime: new Date(),
    size: 0,
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  };
}
