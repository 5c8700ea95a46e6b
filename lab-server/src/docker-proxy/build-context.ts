// Reads the Dockerfile out of a build context (a tar archive, gzip-compressed when the CLI was
// given --compress) and appends a checked copy under a name of the proxy's own, so the engine
// builds exactly the Dockerfile the proxy read.
import { gunzipSync } from 'node:zlib';

import { badRequest, notAllowed, ProxyRefusal } from './refusals.ts';

const BLOCK = 512;

/** The name the checked Dockerfile gets in the context. */
export const CHECKED_DOCKERFILE = '.ddev-lab.Dockerfile';

interface Entry {
  name: string;
  type: string;
  /** Offset of the entry's data, and its size in bytes. */
  offset: number;
  size: number;
}

/**
 * Returns the context as a plain tar archive of at most `limitBytes`: a compressed context is
 * unpacked only that far, so a small archive of zeros cannot fill the server's memory.
 */
export function plainTar(context: Buffer, limitBytes: number): Buffer {
  if (context[0] === 0x1f && context[1] === 0x8b) {
    try {
      return gunzipSync(context, { maxOutputLength: limitBytes });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
        throw contextTooLarge(limitBytes);
      throw badRequest(
        `the build context is not a valid gzip archive: ${(error as Error).message}`,
      );
    }
  }
  if (context.length >= BLOCK && context.toString('latin1', 257, 262) === 'ustar') return context;
  if (context.length === 0) return Buffer.alloc(2 * BLOCK);
  throw notAllowed(
    'A build context in this format',
    'send a plain or gzip-compressed tar, as `docker build` does',
  );
}

/** 413: the context is larger than the proxy reads, once unpacked. */
export function contextTooLarge(limitBytes: number): ProxyRefusal {
  return new ProxyRefusal(
    413,
    `The build context is larger than ${limitBytes / 1024 / 1024} MiB once unpacked, more than a build in this lab may send; leave large files out with a .dockerignore file`,
  );
}

/** Returns the text of one file of the context, or undefined when it is not there. */
export function readContextFile(tar: Buffer, expected: string): string | undefined {
  const target = normalize(expected);
  const entry = entries(tar).find(
    (candidate) => normalize(candidate.name) === target && isFile(candidate.type),
  );
  return entry ? tar.toString('utf8', entry.offset, entry.offset + entry.size) : undefined;
}

/** Returns the archive with one more regular file at its end. */
export function appendContextFile(tar: Buffer, name: string, text: string): Buffer {
  const end = endOfEntries(tar);
  const data = Buffer.from(text, 'utf8');
  const padding = Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK);
  return Buffer.concat([
    tar.subarray(0, end),
    header(name, data.length),
    data,
    padding,
    Buffer.alloc(2 * BLOCK),
  ]);
}

function entries(tar: Buffer): Entry[] {
  const found: Entry[] = [];
  let offset = 0;
  let longName: string | undefined;

  while (offset + BLOCK <= tar.length && !isZeroBlock(tar, offset)) {
    const size = parseInt(
      tar
        .toString('latin1', offset + 124, offset + 136)
        .replace(/\0.*$/, '')
        .trim() || '0',
      8,
    );
    const type = tar.toString('latin1', offset + 156, offset + 157);
    const dataStart = offset + BLOCK;
    if (Number.isNaN(size) || dataStart + size > tar.length)
      throw badRequest('the build context is not a valid tar archive');

    if (type === 'x' || type === 'L') {
      const text = tar.toString('utf8', dataStart, dataStart + size);
      longName =
        type === 'L' ? text.replace(/\0.*$/s, '') : /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1];
    } else {
      found.push({ name: longName ?? ustarName(tar, offset), type, offset: dataStart, size });
      longName = undefined;
    }
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  }
  return found;
}

function endOfEntries(tar: Buffer): number {
  let offset = 0;
  while (offset + BLOCK <= tar.length && !isZeroBlock(tar, offset)) {
    const size = parseInt(
      tar
        .toString('latin1', offset + 124, offset + 136)
        .replace(/\0.*$/, '')
        .trim() || '0',
      8,
    );
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return Math.min(offset, tar.length);
}

function ustarName(tar: Buffer, offset: number): string {
  const name = tar.toString('utf8', offset, offset + 100).replace(/\0.*$/s, '');
  const prefix = tar.toString('utf8', offset + 345, offset + 500).replace(/\0.*$/s, '');
  return prefix ? `${prefix}/${name}` : name;
}

function header(name: string, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 100, 'utf8');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
    'latin1',
  );
  block.write('0', 156, 'latin1');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');

  // The checksum is the byte sum of the header with its own field read as spaces.
  block.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function isZeroBlock(tar: Buffer, offset: number): boolean {
  for (let index = offset; index < offset + BLOCK; index += 1) if (tar[index] !== 0) return false;
  return true;
}

function isFile(type: string): boolean {
  return type === '0' || type === '\0' || type === '';
}

function normalize(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}
