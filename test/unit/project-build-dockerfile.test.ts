// The generated project Dockerfile: fragment order, .example files, BASE_IMAGE lines, packages,
// odd file names and symbolic links that leave the folder.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  BuildFolderError,
  ImageReferenceError,
  UnboundedInstructionError,
} from '../../lab-server/src/project-build/errors.ts';
import {
  generateDockerfile,
  projectBuildArgs,
  stripBaseImageLines,
} from '../../lab-server/src/project-build/dockerfile.ts';
import { readBuildFolder } from '../../lab-server/src/project-build/folder.ts';
import { listInstructions, sourceOfStep } from '../../lab-server/src/project-build/instructions.ts';
import {
  planProjectBuild,
  type BuildPlanOptions,
} from '../../lab-server/src/project-build/plan.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/project-build/web-build', import.meta.url));

let workspace: string;
let counter = 0;

before(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'ddev-lab-project-build-'));
});

after(async () => {
  await rm(workspace, { recursive: true, force: true });
});

/** Creates a folder with the given files; a value starting with `->` makes a symbolic link. */
async function makeFolder(files: Record<string, string>): Promise<string> {
  counter += 1;
  const folder = join(workspace, `case-${counter}`, 'web-build');
  await mkdir(folder, { recursive: true });

  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(folder, name, '..'), { recursive: true });
    if (content.startsWith('->')) await symlink(content.slice(2), join(folder, name));
    else await writeFile(join(folder, name), content);
  }
  return folder;
}

function options(overrides: Partial<BuildPlanOptions> = {}): BuildPlanOptions {
  return {
    kind: 'web',
    baseImage: 'ddev-lab/ddev-webserver:trixie',
    user: { name: 'ddev', uid: 1000, gid: 1000 },
    phpVersion: '8.4',
    database: 'mariadb:11.8',
    platform: { os: 'linux', architecture: 'x86_64' },
    extraPackages: [],
    allowedImages: ['ddev-lab/ddev-webserver:trixie'],
    ...overrides,
  };
}

function sources(plan: { dockerfile: { sections: { source: string }[] } }): string[] {
  return plan.dockerfile.sections.map((section) => section.source);
}

const DDEV_BLOCK = "DDEV's block: the base image, the build arguments and the project's user";

describe('project Dockerfile', () => {
  const cases: Array<{
    name: string;
    files: Record<string, string>;
    options?: Partial<BuildPlanOptions>;
    sources: string[];
    context?: string[];
    skipped?: string[];
  }> = [
    {
      name: 'orders groups lexically',
      files: {
        'Dockerfile.b': 'RUN echo b\n',
        'pre.Dockerfile.z': 'RUN echo pre-z\n',
        Dockerfile: 'RUN echo main\n',
        'prepend.Dockerfile.b': 'FROM scratch AS b\n',
        'Dockerfile.a': 'RUN echo a\n',
        'pre.Dockerfile.a': 'RUN echo pre-a\n',
        'prepend.Dockerfile.a': 'FROM scratch AS a\n',
        'Dockerfile.Z': 'RUN echo Z\n',
      },
      sources: [
        'generated header',
        'web-build/prepend.Dockerfile.a',
        'web-build/prepend.Dockerfile.b',
        DDEV_BLOCK,
        'web-build/pre.Dockerfile.a',
        'web-build/pre.Dockerfile.z',
        'web-build/Dockerfile',
        'web-build/Dockerfile.Z',
        'web-build/Dockerfile.a',
        'web-build/Dockerfile.b',
      ],
      context: [],
    },
    {
      name: 'skips .example files',
      files: {
        'Dockerfile.example': 'RUN false\n',
        'pre.Dockerfile.tool.example': 'RUN false\n',
        'prepend.Dockerfile.example': 'RUN false\n',
        'Dockerfile.tool': 'RUN true\n',
        'notes.conf.example': 'kept in the context\n',
      },
      sources: ['generated header', DDEV_BLOCK, 'web-build/Dockerfile.tool'],
      context: ['notes.conf.example'],
      skipped: ['Dockerfile.example', 'pre.Dockerfile.tool.example', 'prepend.Dockerfile.example'],
    },
    {
      name: 'reads an empty folder',
      files: {},
      sources: ['generated header', DDEV_BLOCK],
      context: [],
    },
    {
      name: 'adds web packages',
      files: {},
      options: { extraPackages: ['figlet', 'php${DDEV_PHP_VERSION}-tidy'] },
      sources: ['generated header', DDEV_BLOCK, 'webimage_extra_packages'],
    },
    {
      name: 'adds db packages',
      files: { 'Dockerfile.db': 'RUN true\n' },
      options: { kind: 'db', extraPackages: ['netcat-openbsd'] },
      sources: ['generated header', DDEV_BLOCK, 'dbimage_extra_packages', 'db-build/Dockerfile.db'],
    },
    {
      name: 'keeps names with spaces',
      files: {
        'Dockerfile.my tool': 'RUN true\n',
        'my file.conf': 'x\n',
        'sub dir/a b.txt': 'y\n',
      },
      sources: ['generated header', DDEV_BLOCK, 'web-build/Dockerfile.my tool'],
      context: ['my file.conf', 'sub dir', 'sub dir/a b.txt'],
    },
    {
      name: 'lists context files',
      files: {
        'Dockerfile.conf': 'ADD mailpit.conf /etc/supervisor/conf.d\n',
        'mailpit.conf': '[program:x]\n',
        'README.txt': '#ddev-generated\nDDEV writes this file.\n',
        'etc/app/app.ini': 'a=1\n',
        'etc/app/current.ini': '->app.ini',
      },
      sources: ['generated header', DDEV_BLOCK, 'web-build/Dockerfile.conf'],
      context: ['etc', 'etc/app', 'etc/app/app.ini', 'etc/app/current.ini', 'mailpit.conf'],
    },
    {
      name: 'keeps a README the learner wrote',
      files: { 'README.txt': 'my notes\n' },
      sources: ['generated header', DDEV_BLOCK],
      context: ['README.txt'],
    },
  ];

  for (const entry of cases) {
    test(entry.name, async () => {
      const folder = await makeFolder(entry.files);

      const plan = await planProjectBuild(folder, options(entry.options));

      assert.deepEqual(sources(plan), entry.sources);
      if (entry.context) assert.deepEqual(plan.contextFiles, entry.context);
      if (entry.skipped) assert.deepEqual(plan.skipped, entry.skipped);
    });
  }

  test('treats a missing folder as empty', async () => {
    const plan = await planProjectBuild(join(workspace, 'no-such-folder'), options());

    assert.deepEqual(sources(plan), ['generated header', DDEV_BLOCK]);
    assert.deepEqual(plan.contextFiles, []);
  });

  test('strips BASE_IMAGE lines from Dockerfile*', async () => {
    const folder = await makeFolder({
      Dockerfile: 'ARG BASE_IMAGE\nFROM $BASE_IMAGE\nRUN echo "$BASE_IMAGE"\n',
      'Dockerfile.braces': 'arg BASE_IMAGE=x\nFROM ${BASE_IMAGE}\nRUN true\n',
      'pre.Dockerfile.kept': 'ARG BASE_IMAGE\n',
      'prepend.Dockerfile.kept': 'FROM $BASE_IMAGE AS build\n',
    });

    const { dockerfile } = await planProjectBuild(folder, options());

    const lines = dockerfile.text.split('\n');
    assert.equal(lines.filter((line) => line === 'FROM $BASE_IMAGE').length, 1);
    assert.ok(lines.includes('FROM $BASE_IMAGE AS build'));
    assert.ok(lines.includes('ARG BASE_IMAGE'), 'a pre fragment keeps its ARG line');
    assert.ok(!lines.includes('FROM ${BASE_IMAGE}'));
    assert.ok(!lines.includes('arg BASE_IMAGE=x'));
    assert.ok(lines.includes('RUN echo "$BASE_IMAGE"'));
  });

  test('stripBaseImageLines keeps other lines', () => {
    assert.equal(
      stripBaseImageLines('ARG BASE_IMAGES_ARE_FUN\nFROM $BASE_IMAGE\nRUN true'),
      'ARG BASE_IMAGES_ARE_FUN\nRUN true',
    );
  });

  test('declares the args for web', async () => {
    const plan = await planProjectBuild(await makeFolder({}), options());

    const args = listInstructions(plan.dockerfile.text)
      .filter((entry) => entry.keyword === 'ARG')
      .map((entry) => entry.text);
    assert.deepEqual(args, [
      'ARG BASE_IMAGE="scratch"',
      'ARG TARGETPLATFORM',
      'ARG TARGETARCH',
      'ARG TARGETOS',
      'ARG username',
      'ARG uid',
      'ARG gid',
      'ARG DDEV_PHP_VERSION',
      'ARG DDEV_DATABASE',
    ]);
  });

  test('declares no database arg for db', async () => {
    const plan = await planProjectBuild(await makeFolder({}), options({ kind: 'db' }));

    assert.ok(!plan.dockerfile.text.includes('DDEV_DATABASE'));
    assert.ok(plan.dockerfile.text.includes('ARG DDEV_PHP_VERSION'));
  });

  test('writes the package line', async () => {
    const plan = await planProjectBuild(
      await makeFolder({}),
      options({ extraPackages: ['figlet', 'tree'] }),
    );

    const run = listInstructions(plan.dockerfile.text).at(-1)!;
    assert.match(
      run.text,
      /^RUN \(timeout \d+ apt-get update \|\| true\) && DEBIAN_FRONTEND=noninteractive apt-get install -y /,
    );
    assert.match(run.text, /--no-install-recommends --no-install-suggests figlet tree$/);
  });

  test('switches from a non-root base user', async () => {
    const plan = await planProjectBuild(
      await makeFolder({ 'Dockerfile.tool': 'RUN true\n' }),
      options({ baseImageUser: 'ddev' }),
    );

    const instructions = listInstructions(plan.dockerfile.text).map((entry) => entry.text);
    assert.equal(instructions[2], 'USER root');
    assert.equal(instructions.at(-1), 'USER ddev');
    assert.equal(sources(plan).at(-1), "ddev-lab: back to the base image's user");
  });

  test('keeps a root base user', async () => {
    const plan = await planProjectBuild(await makeFolder({}), options({ baseImageUser: '' }));

    assert.ok(!plan.dockerfile.text.includes('USER '));
  });

  test('writes no package line without packages', async () => {
    const plan = await planProjectBuild(await makeFolder({}), options());

    assert.ok(!plan.dockerfile.text.includes('apt-get install'));
  });
});

describe('project build arguments', () => {
  test('web gets PHP and database', () => {
    const args = projectBuildArgs(options());

    assert.deepEqual(args, {
      BASE_IMAGE: 'ddev-lab/ddev-webserver:trixie',
      TARGETPLATFORM: 'linux/amd64',
      TARGETARCH: 'amd64',
      TARGETOS: 'linux',
      username: 'ddev',
      uid: '1000',
      gid: '1000',
      DDEV_PHP_VERSION: '8.4',
      DDEV_DATABASE: 'mariadb:11.8',
    });
  });

  test('db gets the user only', () => {
    const args = projectBuildArgs(
      options({ kind: 'db', platform: { os: 'linux', architecture: 'aarch64' } }),
    );

    assert.equal(args.TARGETARCH, 'arm64');
    assert.equal(args.DDEV_PHP_VERSION, undefined);
    assert.equal(args.DDEV_DATABASE, undefined);
    assert.equal(args.username, 'ddev');
  });
});

describe('symbolic links', () => {
  const rejected: Array<[string, Record<string, string>]> = [
    ['absolute fragment link', { 'Dockerfile.passwd': '->/etc/passwd' }],
    ['relative link upward', { 'app.conf': '->../../outside.conf' }],
    ['nested link upward', { 'etc/app.conf': '->../../secret' }],
    ['link through a link', { here: '->.', 'escape.conf': '->here/../outside.conf' }],
    ['dangling link', { 'gone.conf': '->missing.conf' }],
  ];

  for (const [name, files] of rejected) {
    test(`rejects ${name}`, async () => {
      const folder = await makeFolder(files);
      await writeFile(join(folder, '..', 'outside.conf'), 'outside\n');

      await assert.rejects(planProjectBuild(folder, options()), (error: unknown) => {
        assert.ok(error instanceof BuildFolderError, String(error));
        assert.match(error.message, /symbolic link/);
        return true;
      });
    });
  }

  test('names the link and its target', async () => {
    const folder = await makeFolder({ 'Dockerfile.passwd': '->/etc/passwd' });

    await assert.rejects(
      planProjectBuild(folder, options()),
      /Dockerfile\.passwd points to "\/etc\/passwd", outside the build folder/,
    );
  });

  test('accepts a link inside the folder', async () => {
    const folder = await makeFolder({
      'shared.Dockerfile': 'RUN true\n',
      'Dockerfile.linked': '->shared.Dockerfile',
    });

    const plan = await planProjectBuild(folder, options());

    assert.ok(sources(plan).includes('web-build/Dockerfile.linked'));
    assert.ok(plan.contextFiles.includes('shared.Dockerfile'));
  });
});

describe('unbounded instructions', () => {
  test('rejects a volume', async () => {
    const folder = await makeFolder({ 'Dockerfile.data': 'VOLUME /data\n' });

    await assert.rejects(planProjectBuild(folder, options()), (error: unknown) => {
      assert.ok(error instanceof UnboundedInstructionError);
      assert.match(
        error.message,
        /Dockerfile\.data has "VOLUME \/data", which a lab does not allow: a volume is kept outside/,
      );
      return true;
    });
  });

  test('rejects a fast health check', async () => {
    for (const option of [
      '--interval=1ms',
      '--timeout=999ms',
      '--start-period=4s',
      '--interval=1m --timeout=2s',
    ]) {
      const folder = await makeFolder({ 'Dockerfile.health': `HEALTHCHECK ${option} CMD true\n` });
      await assert.rejects(planProjectBuild(folder, options()), /is shorter than 5 s/, option);
    }
  });

  test('accepts a health check of 5 s or more', async () => {
    const folder = await makeFolder({
      'Dockerfile.health': 'HEALTHCHECK --interval=5s --timeout=1m30s --start-period=0 CMD true\n',
    });

    await assert.doesNotReject(planProjectBuild(folder, options()));
  });
});

describe('image references', () => {
  test('rejects another image', async () => {
    const folder = await makeFolder({
      'prepend.Dockerfile.other': 'FROM ddev-lab/ddev-webserver:trixie-other-built AS x\n',
    });

    await assert.rejects(planProjectBuild(folder, options()), (error: unknown) => {
      assert.ok(error instanceof ImageReferenceError);
      assert.match(
        error.message,
        /prepend\.Dockerfile\.other refers to the image "ddev-lab\/ddev-webserver:trixie-other-built"/,
      );
      return true;
    });
  });

  test('rejects COPY from an image', async () => {
    const folder = await makeFolder({
      'Dockerfile.copy': 'COPY --from=alpine:3 /etc/os-release /tmp/\n',
    });

    await assert.rejects(planProjectBuild(folder, options()), ImageReferenceError);
  });

  test('rejects FROM through another arg', async () => {
    const folder = await makeFolder({
      'prepend.Dockerfile.arg': 'ARG OTHER=alpine\nFROM $OTHER AS x\n',
    });

    await assert.rejects(planProjectBuild(folder, options()), ImageReferenceError);
  });

  test('reads fragments as the builder', async () => {
    const secret = 'lab-ffffffffffffffff/ddev-lab/ddev-webserver:trixie-other-built';
    const fragments = [
      `COPY --FROM=${secret} /secret.txt /x\n`,
      `ADD --From=${secret} /secret.txt /x\n`,
      `COPY \\\n\n--from=${secret} /secret.txt /x\n`,
      `COPY \\\n  \n# note\n--from=${secret} /secret.txt /x\n`,
      `COPY --from=sha256:${'a'.repeat(64)} /secret.txt /x\n`,
      `FROM --PLATFORM=linux/amd64 ${secret} AS x\n`,
      `FROM \\\n\n${secret} AS x\n`,
    ];
    for (const fragment of fragments) {
      const folder = await makeFolder({ 'Dockerfile.copy': fragment });
      await assert.rejects(planProjectBuild(folder, options()), ImageReferenceError, fragment);
    }
  });

  test('rejects a repeated flag', async () => {
    const folder = await makeFolder({
      'Dockerfile.copy': 'COPY --from=0 --from=alpine:3 /etc/os-release /tmp/\n',
    });

    await assert.rejects(
      planProjectBuild(folder, options()),
      /web-build\/Dockerfile\.copy cannot be built: line \d+: the flag --from is given more than once/,
    );
  });

  test('rejects an upper-case health check flag', async () => {
    const folder = await makeFolder({
      'Dockerfile.health': 'HEALTHCHECK --INTERVAL=1ms CMD true\n',
    });

    await assert.rejects(planProjectBuild(folder, options()), /is shorter than 5 s/);
  });

  test('numbers steps as the builder', async () => {
    const folder = await makeFolder({
      'Dockerfile.a': 'RUN echo a \\\n\n  b\nRUN echo c\n',
    });
    const plan = await planProjectBuild(folder, options());
    const steps = listInstructions(plan.dockerfile.text);

    assert.equal(steps.at(-2)!.text, 'RUN echo a   b');
    assert.equal(sourceOfStep(plan.dockerfile, steps.length), 'web-build/Dockerfile.a');
  });

  test('accepts stages and allowed images', async () => {
    const folder = await makeFolder({
      'prepend.Dockerfile.stage':
        'FROM $BASE_IMAGE AS Tools\nFROM --platform=linux/amd64 ddev-lab/ddev-webserver:trixie as other\n',
      'Dockerfile.copy':
        'COPY --from=tools /etc/hostname /tmp/a\nCOPY --from=0 /etc/hostname /tmp/b\nCOPY --from=other /etc/hostname /tmp/c\n',
    });

    const plan = await planProjectBuild(folder, options());

    assert.equal(plan.dockerfile.sections.length, 4);
  });
});

describe('the fixture folder', () => {
  test('matches the expected Dockerfile', async () => {
    const plan = await planProjectBuild(FIXTURE, options({ extraPackages: ['figlet'] }));

    assert.equal(plan.dockerfile.text, EXPECTED_FIXTURE_DOCKERFILE);
    assert.deepEqual(plan.contextFiles, ['files', 'files/greeting.txt']);
    assert.deepEqual(plan.skipped, ['Dockerfile.example']);
  });

  test('maps builder steps to files', async () => {
    const plan = await planProjectBuild(FIXTURE, options({ extraPackages: ['figlet'] }));
    const steps = listInstructions(plan.dockerfile.text);

    assert.equal(sourceOfStep(plan.dockerfile, 1), 'generated header');
    assert.equal(sourceOfStep(plan.dockerfile, 2), 'web-build/prepend.Dockerfile.motd');
    assert.equal(sourceOfStep(plan.dockerfile, steps.length), 'web-build/Dockerfile.tool');
    assert.equal(sourceOfStep(plan.dockerfile, steps.length + 1), undefined);
  });

  test('reads fragments in order', async () => {
    const folder = await readBuildFolder(FIXTURE);

    assert.deepEqual(
      folder.fragments.map((fragment) => fragment.name),
      ['prepend.Dockerfile.motd', 'pre.Dockerfile.env', 'Dockerfile', 'Dockerfile.tool'],
    );
  });
});

describe('generateDockerfile', () => {
  test('ends with one newline', () => {
    const generated = generateDockerfile(
      { fragments: [{ group: 'main', name: 'Dockerfile', content: 'RUN true\r\n\r\n\r\n' }] },
      { kind: 'web', extraPackages: [] },
    );

    assert.ok(generated.text.endsWith('### web-build/Dockerfile\nRUN true\n'));
  });
});

const EXPECTED_FIXTURE_DOCKERFILE = `#ddev-generated - Do not modify this file; ddev-lab writes it again at every Restart.
ARG BASE_IMAGE="scratch"

### web-build/prepend.Dockerfile.motd
# A stage above DDEV's FROM: it prepares a file the web image copies later.
FROM $BASE_IMAGE AS motd
RUN echo "Built by ddev-lab from .ddev/web-build" > /tmp/motd

### DDEV's block: the base image, the build arguments and the project's user
FROM $BASE_IMAGE
SHELL ["/bin/bash", "-c"]
ARG TARGETPLATFORM
ARG TARGETARCH
ARG TARGETOS
ARG username
ARG uid
ARG gid
ARG DDEV_PHP_VERSION
ARG DDEV_DATABASE
RUN set -eu; \\
    getent group tty >/dev/null || groupadd tty; \\
    getent group "$gid" >/dev/null || groupadd --gid "$gid" "$username" || groupadd "$username" || true; \\
    id -u "$username" >/dev/null 2>&1 \\
        || useradd --create-home --shell /bin/bash --uid "$uid" --gid "$gid" "$username" \\
        || useradd --create-home --shell /bin/bash --gid "$gid" "$username" \\
        || useradd --create-home --shell /bin/bash "$username"; \\
    usermod --append --groups tty,0 "$username"

### web-build/pre.Dockerfile.env
# Runs right after DDEV's user setup, before the extra packages are installed.
ENV LAB_STAGE=pre

### webimage_extra_packages
RUN (timeout 120 apt-get update || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -o Dpkg::Options::="--force-confold" --no-install-recommends --no-install-suggests figlet

### web-build/Dockerfile
# figlet comes from webimage_extra_packages, which are installed before this fragment.
RUN figlet ddev-lab > /etc/ddev-lab/banner.txt

### web-build/Dockerfile.tool
# Installs a tool and copies a file from the build context and one from the prepend stage.
RUN apt-get update && apt-get install -y --no-install-recommends tree && rm -rf /var/lib/apt/lists/*
COPY files/greeting.txt /etc/ddev-lab/greeting.txt
COPY --from=motd /tmp/motd /etc/motd
`;
