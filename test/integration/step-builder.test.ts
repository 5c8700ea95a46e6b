// The step builder on the real Docker Engine: the history reads as the classic builder's, an
// identical build comes from the cache, FROM scratch with COPY --from squashes into one layer,
// a failed or timed-out build leaves no container and no step image behind, a quiet build
// prints the image id alone, and FROM or COPY --from opens no image the caller does not allow.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { pack } from 'tar-stream';

import { docker } from '../helpers/docker.ts';
import { uniqueInstance } from '../helpers/lab-server.ts';
import { LABELS, labelFilter } from '../../lab-server/src/sandbox/labels.ts';
import {
  StepBuilder,
  type BuildMessage,
  type StepBuildRequest,
} from '../../lab-server/src/sandbox/step-builder/builder.ts';

const BASE = 'ddev-lab/ddev-base:trixie';
const MIB = 1024 * 1024;

describe('step builder on Docker', () => {
  const instance = uniqueInstance('it-step-builder');
  const sessionId = randomBytes(8).toString('hex');
  const builder = new StepBuilder();
  const tag = `${instance}/learner:latest`;

  after(async () => {
    const filters = JSON.stringify(labelFilter({ [LABELS.instance]: instance }));
    for (const container of await docker.listContainers({ all: true, filters }))
      await docker.getContainer(container.Id).remove({ force: true });
    // Newest first, so that no image is removed before the images built on it.
    const images = (await docker.listImages({ all: true, filters })).sort(
      (a, b) => b.Created - a.Created,
    );
    for (const image of images)
      await docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined);
  });

  async function build(dockerfile: string, options: Partial<StepBuildRequest> = {}) {
    const messages: BuildMessage[] = [];
    const result = await builder.build({
      dockerfile,
      context: await tarOf({
        'hello.txt': 'hello from the context\n',
        'site/index.html': '<p>hi</p>\n',
      }),
      tags: [tag],
      buildArgs: { GREETING: 'hi' },
      labels: {
        [LABELS.managed]: 'true',
        [LABELS.instance]: instance,
        [LABELS.session]: sessionId,
      },
      quiet: false,
      noCache: false,
      owner: { instance, sessionId, labId: 'step-builder-test' },
      limits: {
        memoryBytes: 512 * MIB,
        nanoCpus: 1e9,
        pids: 256,
        diskBytes: 512 * MIB,
        timeoutSeconds: 300,
      },
      network: 'none',
      onMessage: (message) => messages.push(message),
      allowImage: (_ref, image) => (image.RepoTags ?? []).includes(BASE),
      allowedImages: BASE,
      ...options,
    });
    let output = '';
    for (const message of messages) {
      if ('stream' in message) output += message.stream;
      if ('error' in message) output += `${message.error}\n`;
    }
    return { result, output, messages };
  }

  const DOCKERFILE = [
    `FROM ${BASE}`,
    'ARG GREETING',
    'ENV TARGET=world',
    'RUN echo "$GREETING $TARGET" > /greeting.txt',
    'COPY --chown=ddev:ddev hello.txt /srv/',
    'WORKDIR /srv/app',
    'EXPOSE 8080',
    'USER ddev',
    'CMD ["cat", "/greeting.txt"]',
  ].join('\n');

  test('history reads as the classic builder', { timeout: 300_000 }, async () => {
    const { result, output } = await build(DOCKERFILE);

    assert.ok(result.ok, output);
    assert.match(output, /^Step 1\/12 : FROM ddev-lab\/ddev-base:trixie$/m);
    assert.match(output, /^ ---> Running in [0-9a-f]{12}$/m);
    assert.match(output, /^Removing intermediate container [0-9a-f]{12}$/m);
    assert.match(output, /^Successfully built [0-9a-f]{12}$/m);
    assert.match(output, new RegExp(`^Successfully tagged ${tag}$`, 'm'));

    const history = (await docker.getImage(tag).history()) as Array<{ CreatedBy: string }>;
    const mine = history
      .slice(0, 11)
      .map((entry) => entry.CreatedBy)
      .reverse();
    assert.deepEqual(mine.slice(0, 2), [
      '/bin/sh -c #(nop)  ARG GREETING',
      '/bin/sh -c #(nop)  ENV TARGET=world',
    ]);
    assert.equal(mine[2], '|1 GREETING=hi /bin/sh -c echo "$GREETING $TARGET" > /greeting.txt');
    assert.match(
      mine[3]!,
      /^\/bin\/sh -c #\(nop\) COPY --chown=ddev:ddev file:[0-9a-f]{64} in \/srv\/ $/,
    );
    assert.deepEqual(mine.slice(4), [
      '/bin/sh -c #(nop) WORKDIR /srv/app',
      '/bin/sh -c #(nop)  EXPOSE 8080',
      '/bin/sh -c #(nop)  USER ddev',
      '/bin/sh -c #(nop)  CMD ["cat" "/greeting.txt"]',
      `/bin/sh -c #(nop)  LABEL ${LABELS.instance}=${instance}`,
      `/bin/sh -c #(nop)  LABEL ${LABELS.managed}=true`,
      `/bin/sh -c #(nop)  LABEL ${LABELS.session}=${sessionId}`,
    ]);

    const image = await docker.getImage(tag).inspect();
    assert.deepEqual(image.Config.Cmd, ['cat', '/greeting.txt']);
    assert.equal(image.Config.User, 'ddev');
    assert.equal(image.Config.WorkingDir, '/srv/app');
    assert.ok(image.Config.Env.includes('TARGET=world'));
    assert.ok(
      !image.Config.Env.some((entry) => entry.startsWith('GREETING=')),
      'a build argument is no part of the image',
    );
    assert.equal(image.Config.Labels[LABELS.session], sessionId);
    assert.equal(image.Config.Labels[LABELS.kind], 'image');
    assert.equal(
      await runIn(tag, 'cat /greeting.txt; stat -c %U /srv/hello.txt'),
      'hi world\nddev',
    );
  });

  test('identical build comes from the cache', { timeout: 300_000 }, async () => {
    const first = await build(DOCKERFILE);
    const second = await build(DOCKERFILE);

    assert.ok(first.result.ok, first.output);
    assert.ok(second.result.ok, second.output);
    assert.equal(second.result.imageId, first.result.imageId);
    assert.equal((second.output.match(/^ ---> Using cache$/gm) ?? []).length, 11);
    assert.doesNotMatch(second.output, /Running in/);

    const uncached = await build(DOCKERFILE, { noCache: true });
    assert.ok(uncached.result.ok, uncached.output);
    assert.doesNotMatch(uncached.output, /Using cache/);
  });

  test('scratch stage squashes into one layer', { timeout: 300_000 }, async () => {
    const { result, output } = await build(
      [
        `FROM ${BASE} AS layered`,
        'RUN head -c 2M /dev/urandom > /tmp/waste.bin',
        'RUN rm /tmp/waste.bin',
        'FROM scratch',
        'COPY --from=layered / /',
        'CMD ["bash"]',
      ].join('\n'),
    );

    assert.ok(result.ok, output);
    const image = await docker.getImage(tag).inspect();
    assert.equal(image.RootFS.Layers?.length, 1);
    assert.deepEqual(image.Config.Cmd, ['bash']);
    assert.equal(await runIn(tag, 'test ! -e /tmp/waste.bin && stat -c %U /home/ddev'), 'ddev');
  });

  test('failed step leaves nothing behind', { timeout: 300_000 }, async () => {
    const before = await sessionImageIds();
    const { result, output, messages } = await build(
      [`FROM ${BASE}`, 'RUN echo one > /one.txt', 'RUN exit 3'].join('\n'),
      { tags: [] },
    );

    assert.equal(result.ok, false);
    assert.equal(result.ok ? undefined : result.step?.number, 3);
    assert.ok(messages.some((message) => 'error' in message && message.errorDetail.code === 3));
    assert.match(output, /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
    assert.deepEqual(await sessionImageIds(), before);
    assert.deepEqual(await buildContainers(), []);
  });

  test('time limit stops the running step', { timeout: 120_000 }, async () => {
    const { result, output } = await build([`FROM ${BASE}`, 'RUN sleep 300'].join('\n'), {
      tags: [],
      limits: {
        memoryBytes: 256 * MIB,
        nanoCpus: 1e9,
        pids: 64,
        // The session's earlier images in this file hold more than 64 MiB, and they count.
        diskBytes: 512 * MIB,
        timeoutSeconds: 3,
      },
    });

    assert.equal(result.ok, false);
    assert.equal(result.ok ? undefined : result.timedOut, true);
    assert.match(output, /the build ran past its time limit of 3 seconds and was stopped/);
    assert.deepEqual(await buildContainers(), []);
  });

  test('quiet build prints only the image id', { timeout: 120_000 }, async () => {
    const { result, output } = await build(DOCKERFILE, { quiet: true });

    assert.ok(result.ok, output);
    assert.equal(output, `${result.imageId}\n`);
  });

  test('unsupported instruction names itself', async () => {
    const { result, output } = await build([`FROM ${BASE}`, 'ONBUILD RUN true'].join('\n'), {
      tags: [],
    });

    assert.equal(result.ok, false);
    assert.match(output, /the instruction ONBUILD is not supported/);
  });

  test('images the caller does not allow stay closed', { timeout: 300_000 }, async () => {
    const secretTag = `${instance}/secret:latest`;
    const secret = `secret-${randomBytes(8).toString('hex')}`;
    const made = await build([`FROM ${BASE}`, `RUN echo ${secret} > /secret.txt`].join('\n'), {
      tags: [secretTag],
      allowImage: () => true,
    });
    assert.ok(made.result.ok, made.output);
    const secretId = (await docker.getImage(secretTag).inspect()).Id;

    const missing = `${instance}/missing:latest`;
    const attempts = [
      `FROM ${secretTag}`,
      `FROM ${secretId}`,
      `FROM ${BASE}\nCOPY --from=${secretTag} /secret.txt /x`,
      `FROM ${BASE}\nCOPY --FROM=${secretTag} /secret.txt /x`,
      `FROM ${BASE}\nCOPY --from=${secretId} /secret.txt /x`,
      `FROM ${BASE}\nCOPY \\\n\n--from=${secretTag} /secret.txt /x`,
      `ARG SOURCE=${secretTag}\nFROM ${BASE}\nARG SOURCE\nCOPY --from=$SOURCE /secret.txt /x`,
    ];
    for (const dockerfile of attempts) {
      const { result, output } = await build(`${dockerfile}\nRUN cat /secret.txt /x || true`, {
        tags: [],
      });
      assert.equal(result.ok, false, `${dockerfile}\n${output}`);
      assert.match(
        output,
        /is not one this build may use\. It may use ddev-lab\/ddev-base:trixie;/,
      );
      assert.ok(!output.includes(secret), output);
    }

    // A refused image and a missing one read the same, but for the name.
    const refused = await build(`FROM ${secretTag}`, { tags: [] });
    const absent = await build(`FROM ${missing}`, { tags: [] });
    assert.equal(
      refused.output.replaceAll(secretTag, 'NAME'),
      absent.output.replaceAll(missing, 'NAME'),
    );

    // A repeated flag fails whichever value a check would read.
    const repeated = await build(`FROM ${BASE}\nCOPY --from=0 --from=${secretTag} /secret.txt /x`, {
      tags: [],
      allowImage: () => true,
    });
    assert.equal(repeated.result.ok, false);
    assert.match(repeated.output, /the flag --from is given more than once/);
  });

  async function sessionImageIds(): Promise<string[]> {
    const images = await docker.listImages({
      all: true,
      filters: JSON.stringify(labelFilter({ [LABELS.session]: sessionId })),
    });
    return images.map((image) => image.Id).sort();
  }

  async function buildContainers() {
    return docker.listContainers({
      all: true,
      filters: JSON.stringify(labelFilter({ [LABELS.instance]: instance, [LABELS.kind]: 'build' })),
    });
  }
});

/** Runs a command in a throwaway container of the image and returns its trimmed output. */
async function runIn(image: string, command: string): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['sh', '-c', command],
    User: 'root',
    Labels: { [LABELS.instance]: 'step-builder-check' },
  });
  try {
    await container.start();
    await container.wait();
    const logs = await container.logs({ stdout: true, stderr: true });
    return stripFrames(logs).trim();
  } finally {
    await container.remove({ force: true });
  }
}

/** Reads the text of a non-TTY log stream: 8-byte frame headers, then the data. */
function stripFrames(buffer: Buffer): string {
  let text = '';
  for (let offset = 0; offset + 8 <= buffer.length;) {
    const size = buffer.readUInt32BE(offset + 4);
    text += buffer.toString('utf8', offset + 8, offset + 8 + size);
    offset += 8 + size;
  }
  return text;
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const packer = pack();
  for (const [name, text] of Object.entries(files)) packer.entry({ name, mode: 0o644 }, text);
  packer.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of packer as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
