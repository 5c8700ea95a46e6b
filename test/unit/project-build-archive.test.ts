// Unpacking a folder archive from a learner's container: paths and links that leave the folder
// are rejected, and size is capped.
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pack } from 'tar-stream';

import { extractFolderArchive } from '../../lab-server/src/project-build/archive.ts';
import { BuildFolderError } from '../../lab-server/src/project-build/errors.ts';

type Entry = {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  content?: string;
  linkname?: string;
};

let workspace: string;
let counter = 0;

before(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'ddev-lab-archive-'));
});

after(async () => {
  await rm(workspace, { recursive: true, force: true });
});

function archive(entries: Entry[]): Readable {
  const packer = pack();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    packer.entry(
      {
        name: entry.name,
        type,
        linkname: entry.linkname,
        mode: type === 'directory' ? 0o755 : 0o644,
      },
      entry.content ?? '',
    );
  }
  packer.finalize();
  return packer as unknown as Readable;
}

async function unpack(
  entries: Entry[],
  limits = { maxBytes: 1024 * 1024, maxEntries: 100 },
): Promise<string> {
  counter += 1;
  const destination = join(workspace, `case-${counter}`, 'web-build');
  await extractFolderArchive(archive(entries), destination, '.ddev/web-build', limits);
  return destination;
}

test('archive unpacks files and links', async () => {
  const folder = await unpack([
    { name: 'web-build', type: 'directory' },
    { name: 'web-build/Dockerfile.tool', content: 'RUN true\n' },
    { name: 'web-build/etc', type: 'directory' },
    { name: 'web-build/etc/app.ini', content: 'a=1\n' },
    { name: 'web-build/etc/current.ini', type: 'symlink', linkname: 'app.ini' },
    { name: 'web-build/pipe', type: 'fifo' },
  ]);

  assert.equal(await readFile(join(folder, 'Dockerfile.tool'), 'utf8'), 'RUN true\n');
  assert.equal(await readlink(join(folder, 'etc/current.ini')), 'app.ini');
  await assert.rejects(lstat(join(folder, 'pipe')), { code: 'ENOENT' });
});

const rejected: Array<[string, Entry[], RegExp]> = [
  [
    'a parent path',
    [
      { name: 'web-build', type: 'directory' },
      { name: 'web-build/../escape', content: 'x' },
    ],
    /leaves the folder/,
  ],
  [
    'an absolute link',
    [
      { name: 'web-build', type: 'directory' },
      { name: 'web-build/passwd', type: 'symlink', linkname: '/etc/passwd' },
    ],
    /symbolic link .*passwd points to "\/etc\/passwd"/,
  ],
  [
    'an upward link',
    [
      { name: 'web-build', type: 'directory' },
      { name: 'web-build/up', type: 'symlink', linkname: '../..' },
    ],
    /outside the build folder/,
  ],
  [
    'a write through a link',
    [
      { name: 'web-build', type: 'directory' },
      { name: 'web-build/here', type: 'symlink', linkname: '.' },
      { name: 'web-build/here/file', content: 'x' },
    ],
    /not a folder/,
  ],
  [
    'a linked top folder',
    [{ name: 'web-build', type: 'symlink', linkname: '/etc' }],
    /is a symbolic link to "\/etc", not a folder/,
  ],
  [
    'a hard link outside',
    [
      { name: 'web-build', type: 'directory' },
      { name: 'web-build/h', type: 'link', linkname: 'other/../../etc/passwd' },
    ],
    /hard link/,
  ],
];

for (const [name, entries, expected] of rejected) {
  test(`archive rejects ${name}`, async () => {
    await assert.rejects(unpack(entries), (error: unknown) => {
      assert.ok(error instanceof BuildFolderError, String(error));
      assert.match(error.message, expected);
      return true;
    });
  });
}

test('archive rejects too many bytes', async () => {
  const entries: Entry[] = [
    { name: 'web-build', type: 'directory' },
    { name: 'web-build/big', content: 'x'.repeat(2048) },
  ];

  await assert.rejects(
    unpack(entries, { maxBytes: 1024, maxEntries: 10 }),
    /larger than 0 MiB or has more than 10 entries/,
  );
});

test('archive rejects too many entries', async () => {
  const entries: Entry[] = [{ name: 'web-build', type: 'directory' }];
  for (let index = 0; index < 5; index += 1)
    entries.push({ name: `web-build/f${index}`, content: '' });

  await assert.rejects(unpack(entries, { maxBytes: 1024, maxEntries: 3 }), BuildFolderError);
});
