// Unpacks a tar stream from a learner's container into a host folder. The archive is untrusted:
// entries may not leave the folder by their names or by link targets, and size and entry count
// are capped so a large folder cannot fill the host's disk.
import { createWriteStream } from 'node:fs';
import { link, lstat, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type Header } from 'tar-stream';

import { BuildFolderError } from './errors.ts';
import { isInside } from './folder.ts';

export interface ExtractLimits {
  maxBytes: number;
  maxEntries: number;
}

/**
 * Unpacks the archive of one folder (entries `name/...`, as the engine's archive API returns them)
 * into `destination`, dropping the first path component. `shownName` names the folder in errors.
 */
export async function extractFolderArchive(
  archive: NodeJS.ReadableStream,
  destination: string,
  shownName: string,
  limits: ExtractLimits,
): Promise<void> {
  const root = path.resolve(destination);
  await mkdir(root, { recursive: true });
  const reader = extract();
  const feeding = pipeline(archive as Readable, reader).catch((error: unknown) =>
    reader.destroy(error as Error),
  );

  let bytes = 0;
  let entries = 0;
  for await (const entry of reader) {
    const header = entry.header;
    entries += 1;
    bytes += header.size ?? 0;
    if (entries > limits.maxEntries || bytes > limits.maxBytes) {
      entry.resume();
      throw tooLarge(shownName, limits);
    }

    const relative = stripFirst(header.name);
    if (relative === '') {
      if (header.type !== 'directory') throw notAFolder(shownName, header);
      entry.resume();
      continue;
    }

    const target = path.resolve(root, relative);
    if (relative.split('/').includes('..') || !isInside(root, target)) {
      entry.resume();
      throw new BuildFolderError(
        `${shownName} contains the path "${header.name}", which leaves the folder.`,
      );
    }

    await writeEntry(root, target, header, entry as unknown as Readable, shownName);
  }
  await feeding;
}

async function writeEntry(
  root: string,
  target: string,
  header: Header,
  entry: Readable,
  shownName: string,
): Promise<void> {
  const shown = `${shownName}/${path.relative(root, target)}`;
  await makeParents(root, path.relative(root, path.dirname(target)), shown);

  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      // Set-user-ID and similar bits are dropped: the files only feed a build context.
      // The `wx` flag fails on any existing entry, so a write never follows a link.
      await pipeline(
        entry,
        createWriteStream(target, { flags: 'wx', mode: (header.mode ?? 0o644) & 0o777 }),
      );
      return;

    case 'directory':
      await mkdir(target, { recursive: true, mode: ((header.mode ?? 0o755) & 0o777) | 0o700 });
      entry.resume();
      return;

    case 'symlink': {
      entry.resume();
      const linkTarget = header.linkname ?? '';
      if (
        path.isAbsolute(linkTarget) ||
        !isInside(root, path.resolve(path.dirname(target), linkTarget))
      ) {
        throw new BuildFolderError(
          `The symbolic link ${shown} points to "${linkTarget}", outside the build folder. ` +
            'A build may only use files inside the folder: copy the file in instead of linking to it.',
        );
      }
      await symlink(linkTarget, target);
      return;
    }

    case 'link': {
      entry.resume();
      const source = path.resolve(root, stripFirst(header.linkname ?? ''));
      if (!isInside(root, source)) {
        throw new BuildFolderError(
          `The hard link ${shown} refers to "${header.linkname}", outside the build folder.`,
        );
      }
      await link(source, target);
      return;
    }

    default:
      // Devices, FIFOs and sockets cannot be part of a build context; they are left out.
      entry.resume();
  }
}

/** Creates the parent folders one by one, rejecting a path that runs through a symbolic link. */
async function makeParents(root: string, relative: string, shown: string): Promise<void> {
  let current = root;
  for (const part of relative.split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    const info = await lstat(current).catch(() => undefined);
    if (!info) {
      await mkdir(current, { mode: 0o755 });
      continue;
    }
    if (!info.isDirectory()) {
      throw new BuildFolderError(
        `${shown} lies under ${path.relative(root, current)}, which is not a folder.`,
      );
    }
  }
}

function stripFirst(name: string): string {
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  return parts.slice(1).join('/');
}

function notAFolder(shownName: string, header: Header): BuildFolderError {
  const what =
    header.type === 'symlink' ? `a symbolic link to "${header.linkname}"` : `a ${header.type}`;
  return new BuildFolderError(
    `${shownName} is ${what}, not a folder. Make it a folder of Dockerfile fragments.`,
  );
}

function tooLarge(shownName: string, limits: ExtractLimits): BuildFolderError {
  const megabytes = Math.round(limits.maxBytes / 1024 / 1024);
  return new BuildFolderError(
    `${shownName} is larger than ${megabytes} MiB or has more than ${limits.maxEntries} entries. ` +
      'Keep only the files the build needs in it.',
  );
}

/** Reads the archive of a single regular file and returns its text; links and folders are rejected. */
export async function readFileArchive(
  archive: NodeJS.ReadableStream,
  shownName: string,
  maxBytes: number,
): Promise<string> {
  const reader = extract();
  const feeding = pipeline(archive as Readable, reader).catch((error: unknown) =>
    reader.destroy(error as Error),
  );
  let text: string | undefined;

  for await (const entry of reader) {
    const header = entry.header;
    if (text !== undefined || (header.type !== 'file' && header.type !== 'contiguous-file')) {
      entry.resume();
      const what =
        header.type === 'symlink' ? `a symbolic link to "${header.linkname}"` : `a ${header.type}`;
      throw new BuildFolderError(`${shownName} is ${what}, not a file. Make it a regular file.`);
    }
    if ((header.size ?? 0) > maxBytes) {
      entry.resume();
      throw new BuildFolderError(
        `${shownName} is larger than ${Math.round(maxBytes / 1024)} KiB. Shorten it.`,
      );
    }

    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  }
  await feeding;
  return text ?? '';
}
