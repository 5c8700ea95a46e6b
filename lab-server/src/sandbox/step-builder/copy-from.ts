// COPY --from: streams a path out of a container of the source stage or image into the step
// container, renaming each entry to its full destination path, without holding it in memory.
import path from 'node:path';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { extract, pack, type Header } from 'tar-stream';

import { cleanPath, type Owner } from './context.ts';

export class CopyTooLargeError extends Error {}

export interface CopyFromOptions {
  source: Docker.Container;
  /** Absolute path in the source. */
  sourcePath: string;
  sourceIsDirectory: boolean;
  target: Docker.Container;
  /** Absolute destination; a folder when `intoFolder`. */
  destination: string;
  intoFolder: boolean;
  /** Whether the destination folder exists already; a new one gets the source folder's entry. */
  destinationExists: boolean;
  /** Owner to set; without it the source's owners stay, as the classic builder keeps them. */
  owner: Owner | undefined;
  limitBytes: number;
  /** Stops the copy, for a build past its time limit. */
  signal: AbortSignal;
}

/** Copies and returns the bytes of file data copied. */
export async function copyFromContainer(options: CopyFromOptions): Promise<number> {
  const archive = (await options.source.getArchive({
    path: options.sourcePath,
  })) as NodeJS.ReadableStream;
  const reader = extract();
  const writer = pack();
  let bytes = 0;

  reader.on('entry', (header, stream, next) => {
    const renamed = rename(header, options);
    if (!renamed) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    bytes += header.size ?? 0;
    if (bytes > options.limitBytes) {
      stream.resume();
      reader.destroy(new CopyTooLargeError(`more than ${options.limitBytes} bytes`));
      return;
    }
    if (header.type === 'file' || header.type === 'contiguous-file') {
      stream.pipe(writer.entry(renamed, (error) => next(error ?? undefined)));
    } else {
      stream.resume();
      writer.entry(renamed, (error) => next(error ?? undefined));
    }
  });
  reader.on('finish', () => writer.finalize());
  const onAbort = () => reader.destroy(new Error('the build was stopped'));
  options.signal.addEventListener('abort', onAbort, { once: true });
  reader.on('error', (error) => writer.destroy(error));
  (archive as Readable).on('error', (error) => reader.destroy(error));
  (archive as Readable).pipe(reader as unknown as NodeJS.WritableStream);

  let failure: Error | undefined;
  reader.on('error', (error) => {
    failure = error;
  });
  try {
    await options.target.putArchive(Readable.from(writer as unknown as AsyncIterable<Buffer>), {
      path: '/',
    });
  } catch (error) {
    throw failure ?? error;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure;
  return bytes;
}

/** Maps an entry of the source archive to its destination, or undefined to skip it. */
function rename(header: Header, options: CopyFromOptions): Header | undefined {
  const name = cleanPath(header.name);
  const top = cleanPath(options.sourcePath) === '' ? '' : path.posix.basename(options.sourcePath);

  let relative: string;
  if (top === '') relative = name;
  else if (name === top) relative = '';
  else if (name.startsWith(`${top}/`)) relative = name.slice(top.length + 1);
  else return undefined;

  let target: string;
  if (!options.sourceIsDirectory) {
    target = options.intoFolder
      ? path.posix.join(options.destination, path.posix.basename(name))
      : options.destination;
  } else {
    // The engine adds /.dockerenv to every container; it is no part of the image.
    if (top === '' && relative === '.dockerenv') return undefined;
    if (relative === '' && (options.destinationExists || options.destination === '/'))
      return undefined;
    target = path.posix.join(options.destination, relative);
  }

  const renamed: Header = { ...header, name: target.slice(1) || '.' };
  if (header.type === 'link' && header.linkname) {
    const linked = rename({ ...header, type: 'file', name: header.linkname }, options);
    if (linked) renamed.linkname = linked.name;
  }
  if (options.owner)
    Object.assign(renamed, {
      uid: options.owner.uid,
      gid: options.owner.gid,
      uname: '',
      gname: '',
    });
  return renamed;
}
