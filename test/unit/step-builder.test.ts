// The step builder's reading of a Dockerfile, without an engine: instructions and their text as
// the classic builder prints them, variable substitution, the history text of settings, and the
// files a COPY selects from the build context.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';

import {
  copyItems,
  hashSelections,
  readContext,
  selectSources,
} from '../../lab-server/src/sandbox/step-builder/context.ts';
import {
  goDuration,
  healthcheckText,
  parseGoDuration,
  quoteList,
} from '../../lab-server/src/sandbox/step-builder/format.ts';
import { allowedImage } from '../../lab-server/src/sandbox/step-builder/image-access.ts';
import {
  DockerfileSyntaxError,
  jsonArray,
  parseDockerfile,
} from '../../lab-server/src/sandbox/step-builder/parse.ts';
import {
  expandWord,
  expandWords,
  splitPairs,
} from '../../lab-server/src/sandbox/step-builder/words.ts';

test('continued lines join as the builder joins them', () => {
  const text = [
    '# a comment',
    'FROM base AS build',
    '',
    'RUN set -eu; \\',
    '    # inside',
    '    echo one; \\',
    '    echo two',
    'copy --chown=ddev:ddev a b',
  ].join('\n');
  const instructions = parseDockerfile(text);

  assert.deepEqual(
    instructions.map((instruction) => instruction.keyword),
    ['FROM', 'RUN', 'COPY'],
  );
  assert.equal(instructions[1]!.original, 'RUN set -eu;     echo one;     echo two');
  assert.equal(instructions[1]!.args, 'set -eu;     echo one;     echo two');
  assert.equal(instructions[1]!.line, 4);
  assert.deepEqual(instructions[2]!.flags, { chown: 'ddev:ddev' });
  assert.equal(instructions[2]!.args, 'a b');
});

test('flags read the same however written', () => {
  const texts = [
    'COPY --FROM=img /f /x',
    'COPY \\\n\n--from=img /f /x',
    'COPY \\\n   \n# note\n  --From=img /f /x',
  ];
  for (const text of texts) {
    const [instruction] = parseDockerfile(text);
    assert.equal(instruction!.keyword, 'COPY', text);
    assert.deepEqual(instruction!.flags, { from: 'img' }, text);
    assert.equal(instruction!.args, '/f /x', text);
  }
});

test('repeated flag is a syntax error', () => {
  for (const text of ['COPY --from=0 --from=img /f /x', 'FROM --platform=a --PLATFORM=b img']) {
    assert.throws(
      () => parseDockerfile(`FROM base\n${text}`),
      (error: unknown) =>
        error instanceof DockerfileSyntaxError &&
        error.line === 2 &&
        /the flag --\w+ is given more than once/.test(error.message),
      text,
    );
  }
});

/** Returns an engine with only `getImage(ref).inspect()`, the call the image check makes. */
function fakeEngine(images: Record<string, { Id: string; RepoTags: string[] }>) {
  const asked: string[] = [];
  const docker = {
    getImage: (ref: string) => ({
      inspect: async () => {
        asked.push(ref);
        const image = images[ref];
        if (!image) throw Object.assign(new Error(`No such image: ${ref}`), { statusCode: 404 });
        return image;
      },
    }),
  } as unknown as Docker;
  return { docker, asked };
}

test('image check opens only allowed images', async () => {
  const secretId = `sha256:${'b'.repeat(64)}`;
  const { docker, asked } = fakeEngine({
    'ddev-lab/ddev-base:trixie': {
      Id: `sha256:${'a'.repeat(64)}`,
      RepoTags: ['ddev-lab/ddev-base:trixie'],
    },
    'lab-other/secret': { Id: secretId, RepoTags: ['lab-other/secret:latest'] },
    [secretId]: { Id: secretId, RepoTags: ['lab-other/secret:latest'] },
  });
  const access = {
    allowImage: (_ref: string, image: Docker.ImageInspectInfo) =>
      image.RepoTags.includes('ddev-lab/ddev-base:trixie'),
    allowedImages: 'the base image',
  };

  const base = await allowedImage(docker, access, 'ddev-lab/ddev-base:trixie', 'FROM');
  assert.equal(base.Id, `sha256:${'a'.repeat(64)}`);

  const message = async (ref: string) => {
    try {
      await allowedImage(docker, access, ref, 'COPY --from');
    } catch (error) {
      return (error as Error).message.replace(ref, 'NAME');
    }
    assert.fail(`${ref} was allowed`);
  };
  const refused = await message('lab-other/secret');
  assert.match(
    refused,
    /^COPY --from: the image NAME is not one this build may use\. It may use the base image;/,
  );
  assert.equal(await message(secretId), refused);
  assert.equal(
    await message('lab-other/missing'),
    refused,
    'a missing image reads as a refused one',
  );

  const before = asked.length;
  assert.equal(await message('../../containers/x'), refused);
  assert.equal(asked.length, before, 'a malformed name never reaches the engine');
});

test('exec form is a JSON list of strings', () => {
  assert.deepEqual(jsonArray('["cat", "/x"]'), ['cat', '/x']);
  assert.equal(jsonArray('[not json'), undefined);
  assert.equal(jsonArray('echo [x]'), undefined);
});

test('words expand variables and drop quotes', () => {
  const variables = { NAME: 'ddev', EMPTY: '' };

  assert.equal(expandWord('/home/$NAME/${NAME}x', variables), '/home/ddev/ddevx');
  assert.equal(expandWord('\'$NAME\' "$NAME" \\$NAME', variables), '$NAME ddev $NAME');
  assert.equal(
    expandWord('${EMPTY:-fallback} ${MISSING:-other} ${NAME:+set}', variables),
    'fallback other set',
  );
  assert.deepEqual(expandWords('a "b c" $NAME', variables), ['a', 'b c', 'ddev']);
  assert.deepEqual(splitPairs('A=1 B="two words"'), [
    { key: 'A', value: '1' },
    { key: 'B', value: '"two words"' },
  ]);
  assert.deepEqual(splitPairs('OLD the rest of it'), [{ key: 'OLD', value: 'the rest of it' }]);
});

test('settings read in history as the classic builder writes them', () => {
  assert.equal(quoteList(['cat', '/greeting.txt']), '["cat" "/greeting.txt"]');
  assert.equal(goDuration(5e9), '5s');
  assert.equal(goDuration(90e9), '1m30s');
  assert.equal(parseGoDuration('1m30s'), 90e9);
  assert.equal(parseGoDuration('soon'), undefined);
  assert.equal(
    healthcheckText({
      Test: ['CMD', '/healthcheck.sh'],
      Interval: 5e9,
      Timeout: 5e9,
      StartPeriod: 30e9,
      Retries: 3,
    }),
    'HEALTHCHECK &{["CMD" "/healthcheck.sh"] "5s" "5s" "30s" \'\\x03\'}',
  );
});

test('COPY selects files, folders and wildcards from the context', async () => {
  const context = await readContext(
    await tarOf({ 'a.txt': 'a', 'b.txt': 'b', 'dir/c.txt': 'c', 'dir/sub/d.txt': 'd' }),
  );

  const file = selectSources(context, ['a.txt'], 'COPY');
  const folder = selectSources(context, ['dir'], 'COPY');
  const wildcard = selectSources(context, ['*.txt'], 'COPY');

  assert.deepEqual(
    copyItems(file, '/etc/x.txt', false, { uid: 0, gid: 0 }).map((item) => item.header.name),
    ['etc/x.txt'],
  );
  assert.deepEqual(
    copyItems(folder, '/opt/dir', true, { uid: 1000, gid: 1000 }).map((item) => [
      item.header.name,
      item.header.uid,
    ]),
    [
      ['opt/dir/c.txt', 1000],
      ['opt/dir/sub/d.txt', 1000],
    ],
  );
  assert.deepEqual(
    wildcard.map((selection) => selection.source),
    ['a.txt', 'b.txt'],
  );
  assert.notEqual(hashSelections(file), hashSelections(selectSources(context, ['b.txt'], 'COPY')));
  assert.throws(
    () => selectSources(context, ['missing.txt'], 'COPY'),
    /COPY failed: file not found in build context/,
  );
});

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const packer = pack();
  for (const [name, text] of Object.entries(files)) packer.entry({ name, mode: 0o644 }, text);
  packer.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of packer as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
