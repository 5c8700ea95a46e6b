// Limits on one learner's builds, tested without an engine. Long output lines are cut, and a
// compressed context or ADD archive unpacks only up to a limit. A slow client gets only a bounded
// buffer of output. The session's images count against its disk quota, each layer once.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

import { plainTar } from '../../lab-server/src/docker-proxy/build-context.ts';
import {
  BuildOutput,
  MAX_BUFFERED_OUTPUT,
} from '../../lab-server/src/docker-proxy/calls-images.ts';
import { ProxyRefusal } from '../../lab-server/src/docker-proxy/refusals.ts';
import { LineSplitter, MAX_LINE_CHARS } from '../../lab-server/src/sandbox/project-build-engine.ts';
import {
  ADD_UNPACK_LIMIT,
  BuildStepError,
  archiveItems,
  readContext,
} from '../../lab-server/src/sandbox/step-builder/context.ts';
import {
  heldBytes,
  removedWith,
  type BudgetImage,
} from '../../lab-server/src/sandbox/step-builder/disk-budget.ts';
import { RUN_OUTPUT } from '../../lab-server/src/sandbox/step-builder/messages.ts';
import { StepContainers } from '../../lab-server/src/sandbox/step-builder/step-containers.ts';

const MIB = 1024 * 1024;

function split(chunks: string[]): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  for (const chunk of chunks) splitter.add(chunk);
  splitter.flush();
  return lines;
}

test('line splitter joins lines across chunks', () => {
  assert.deepEqual(split(['Step 1/2 : RUN x\n ---> Run', 'ning in abc\n', '\n', 'last']), [
    'Step 1/2 : RUN x',
    ' ---> Running in abc',
    'last',
  ]);
});

test('line splitter cuts an endless line and keeps what follows', () => {
  const chunk = 'a'.repeat(64 * 1024);
  const chunks = Array.from({ length: 200 }, () => chunk);
  chunks.push('aaa\nnext line\n');
  const lines = split(chunks);

  assert.equal(lines.length, 2);
  assert.ok(lines[0]!.startsWith('a'.repeat(MAX_LINE_CHARS)));
  assert.match(lines[0]!, /\[line cut: longer than 4096 characters\]$/);
  assert.ok(lines[0]!.length < MAX_LINE_CHARS + 100);
  assert.equal(lines[1], 'next line');
});

test('line splitter cuts a line that grows past the limit in small chunks', () => {
  const lines = split(['x'.repeat(MAX_LINE_CHARS - 1), 'yy', 'z'.repeat(10), '\nok']);
  assert.equal(lines.length, 2);
  assert.equal(
    lines[0],
    `${'x'.repeat(MAX_LINE_CHARS - 1)}y [line cut: longer than 4096 characters]`,
  );
  assert.equal(lines[1], 'ok');
});

test('line splitter passes a line of exactly the limit whole', () => {
  const line = 'b'.repeat(MAX_LINE_CHARS);
  assert.deepEqual(split([line, '\n']), [line]);
});

async function tarOf(files: Record<string, Buffer>): Promise<Buffer> {
  const packer = pack();
  for (const [name, data] of Object.entries(files)) packer.entry({ name }, data);
  packer.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of packer as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

test('compressed context that unpacks past the limit is refused with 413', async () => {
  const bomb = gzipSync(await tarOf({ 'zeros.bin': Buffer.alloc(8 * MIB) }));
  assert.ok(bomb.length < 64 * 1024, 'the archive is small');

  assert.throws(
    () => plainTar(bomb, 4 * MIB),
    (error: unknown) =>
      error instanceof ProxyRefusal &&
      error.status === 413 &&
      /larger than 4 MiB once unpacked/.test(error.message) &&
      /\.dockerignore/.test(error.message),
  );
  assert.ok(plainTar(bomb, 16 * MIB).length > 8 * MIB, 'under the limit it unpacks');
});

test('ADD of an archive that unpacks past the room fails before unpacking it all', async () => {
  const inner = await tarOf({ 'zeros.bin': Buffer.alloc(4 * MIB) });
  const context = await readContext(await tarOf({ 'big.tar.gz': gzipSync(inner) }));
  const entry = context.get('big.tar.gz')!;

  await assert.rejects(
    archiveItems(entry, '/opt', undefined, 1 * MIB),
    (error: unknown) =>
      error instanceof BuildStepError &&
      /big\.tar\.gz unpacks to more than 1 MiB/.test(String(error)),
  );
  const items = await archiveItems(entry, '/opt', undefined, 8 * MIB);
  assert.equal(items?.[0]?.header.name, 'opt/zeros.bin');
  assert.ok(ADD_UNPACK_LIMIT <= 512 * MIB);
});

/** A response whose client reads nothing: everything written waits in its buffer. */
function stalledResponse(): { response: http.ServerResponse; written: string[] } {
  const written: string[] = [];
  let waiting = 0;
  const response = {
    writableEnded: false,
    destroyed: false,
    get writableLength() {
      return waiting;
    },
    write(text: string) {
      written.push(text);
      waiting += text.length;
      return waiting < 16 * 1024;
    },
  };
  return { response: response as unknown as http.ServerResponse, written };
}

test('build output for a stalled client stops growing and keeps the result', () => {
  const { response, written } = stalledResponse();
  const output = new BuildOutput(response);
  const chunk = 'a'.repeat(64 * 1024);
  for (let index = 0; index < 1000; index += 1) output.send({ stream: chunk, [RUN_OUTPUT]: true });
  output.send({ stream: 'Successfully built abc\n' });
  output.send({ aux: { ID: 'sha256:abc' } });

  const total = written.reduce((sum, text) => sum + text.length, 0);
  assert.ok(total < MAX_BUFFERED_OUTPUT + 256 * 1024, `held ${total} bytes`);
  assert.match(written.at(-3)!, /bytes of output left out: the client read slower/);
  assert.equal(written.at(-2), `${JSON.stringify({ stream: 'Successfully built abc\n' })}\r\n`);
  assert.equal(written.at(-1), `${JSON.stringify({ aux: { ID: 'sha256:abc' } })}\r\n`);
});

const image = (id: string, parentId: string, sizeMib: number, tagged = false): BudgetImage => ({
  id,
  parentId,
  sizeBytes: sizeMib * MIB,
  tagged,
});

test('session images count each layer once and teaching layers not at all', () => {
  // Two builds on the same teaching image (500 MiB) share their first step image.
  const images = [
    image('s1', 'teach', 600),
    image('a2', 's1', 650, true),
    image('b2', 's1', 700),
    image('b3', 'b2', 720, true),
  ];
  const outside = new Map([['teach', 500 * MIB]]);

  assert.equal(heldBytes(images, outside), (100 + 50 + 100 + 20) * MIB);
  assert.deepEqual([...removedWith(images, 'b3')].sort(), ['b2', 'b3']);
  assert.equal(heldBytes(images, outside, removedWith(images, 'b3')), (100 + 50) * MIB);
  assert.deepEqual([...removedWith(images, 'a2')], ['a2'], 's1 still has b2 on it');
});

function containers(quotaMib: number): StepContainers {
  return new StepContainers({
    docker: {} as never,
    labels: {},
    limits: { memoryBytes: 0, nanoCpus: 0, pids: 0, diskBytes: quotaMib * MIB },
    signal: new AbortController().signal,
    pollMs: 1000,
    storageQuota: async () => false,
  });
}

test('what the session holds leaves the build only the rest of its quota', () => {
  const budget = containers(300);
  budget.hold(250 * MIB);
  assert.equal(budget.roomBytes, 50 * MIB);
  budget.checkRoom(40 * MIB);
  assert.throws(
    () => budget.charge(60 * MIB),
    /disk quota of 300 MiB allows, because the images this session built hold 250 MiB of it already\. Remove images you no longer need with `docker rmi`/,
  );
});

test('without images held the quota message stays the build’s own', () => {
  const budget = containers(64);
  assert.throws(
    () => budget.checkRoom(65 * MIB),
    /the build wrote more than its disk quota of 64 MiB\. Write less/,
  );
});
