// The proxy's pure rules: which calls parse, what a create body becomes, which Dockerfiles pass.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  appendContextFile,
  readContextFile,
} from '../../lab-server/src/docker-proxy/build-context.ts';
import {
  allowedPsArgs,
  displayStatsName,
  EXEC_BURST,
  EXEC_PER_SECOND,
  RateBucket,
} from '../../lab-server/src/docker-proxy/calls-containers.ts';
import {
  buildCreateBody,
  buildExecBody,
  healthcheckFor,
} from '../../lab-server/src/docker-proxy/container-spec.ts';
import { checkDockerfile } from '../../lab-server/src/docker-proxy/dockerfile-check.ts';
import {
  containerNamePrefix,
  findContainer,
  namespaceNamePatterns,
  toDisplayMessage,
  toDisplayName,
  toEngineName,
} from '../../lab-server/src/docker-proxy/names.ts';
import { toDisplayRef, toEngineRef } from '../../lab-server/src/docker-proxy/refs.ts';
import { parseRequest } from '../../lab-server/src/docker-proxy/routes.ts';

const SESSION = '0123456789abcdef';
const PREFIX = containerNamePrefix({ instance: 'test', sessionId: SESSION });
const CONTEXT = {
  networkId: 'net1',
  networkName: 'ddevlab-x',
  labels: { 'dev.ddevlab.session': SESSION },
  memoryBytes: 512 << 20,
  memoryLeftBytes: 1024 << 20,
  nanoCpus: 1e9,
  pids: 256,
};

test('routes parse versioned paths', () => {
  assert.deepEqual(parseRequest('GET', '/v1.41/containers/json?all=1').route, {
    call: 'containers.list',
  });
  assert.deepEqual(parseRequest('GET', '/images/ddev-lab/ddev-base:trixie/history').route, {
    call: 'images.history',
    ref: 'ddev-lab/ddev-base:trixie',
  });
});

test('routes parse docker diff', () => {
  const parsed = parseRequest('GET', '/v1.41/containers/web/changes');

  assert.deepEqual(parsed.route, { call: 'containers.changes', id: 'web' });
  assert.throws(
    () => parseRequest('POST', '/v1.41/containers/web/changes'),
    (error: { status: number }) => error.status === 403,
  );
});

test('routes reject calls off the list', () => {
  const cases: [string, string, number][] = [
    ['POST', '/v1.41/swarm/init', 403],
    ['POST', '/v1.41/images/create?fromImage=alpine', 403],
    ['POST', '/v1.41/volumes/create', 403],
    ['GET', '/v1.41/containers/x/../../swarm', 400],
    ['GET', '/v1.41/containers%2fjson', 400],
    ['GET', '/v1.41/volumes/data', 404],
  ];
  for (const [method, path, status] of cases) {
    assert.throws(
      () => parseRequest(method, path),
      (error: { status: number }) => error.status === status,
      path,
    );
  }
});

test('create body forces network and limits', () => {
  const body = buildCreateBody(
    {
      Image: 'x',
      Cmd: ['true'],
      Labels: { 'dev.ddevlab.session': 'other', mine: '1' },
      HostConfig: { NetworkMode: 'default' },
    },
    CONTEXT,
  );
  const host = body.HostConfig as Record<string, unknown>;

  assert.equal(host.NetworkMode, 'net1');
  assert.deepEqual(host.CapDrop, ['ALL']);
  assert.equal(host.Memory, 512 << 20);
  assert.equal(host.PidsLimit, 256);
  assert.deepEqual(body.Labels, {
    mine: '1',
    'dev.ddevlab.session': SESSION,
    'dev.ddevlab.memory': String(512 << 20),
  });
});

test('create body rejects dangerous options', () => {
  const cases: Record<string, unknown>[] = [
    { Privileged: true },
    { Binds: ['/:/host'] },
    { Mounts: [{ Type: 'bind', Source: '/', Target: '/host' }] },
    { PortBindings: { '80/tcp': [{ HostPort: '80' }] } },
    { CapAdd: ['SYS_ADMIN'] },
    { NetworkMode: 'host' },
    { PidMode: 'host' },
    { IpcMode: 'host' },
    { Devices: [{ PathOnHost: '/dev/kmsg' }] },
    { SecurityOpt: ['seccomp=unconfined'] },
    { Memory: 4096 * 1024 * 1024 },
  ];
  for (const host of cases) {
    assert.throws(
      () => buildCreateBody({ HostConfig: host }, CONTEXT),
      /not allowed in this lab/,
      JSON.stringify(host),
    );
  }
});

test('exec body rejects privileged', () => {
  assert.throws(() => buildExecBody({ Cmd: ['sh'], Privileged: true }), /not allowed in this lab/);
  assert.equal(buildExecBody({ Cmd: ['sh'], User: 'root' }).Privileged, false);
});

test('dockerfile check rejects fetches', () => {
  const cases = [
    'FROM x\nADD https://169.254.169.254/ /m',
    'FROM x\nONBUILD RUN id',
    'FROM x\nCOPY --from=alpine / /',
    'ARG B\nFROM $B',
  ];
  for (const text of cases)
    assert.throws(() => checkDockerfile(text, {}), /not allowed in this lab/, text);
});

test('dockerfile check reads as the builder', () => {
  const secret = `lab-ffffffffffffffff/secret`;
  const id = `sha256:${'a'.repeat(64)}`;
  const refused = [
    `FROM x\nCOPY --FROM=${secret} /secret.txt /x`,
    `FROM x\nADD --From=${secret} /secret.txt /x`,
    `FROM x\nCOPY \\\n\n--from=${secret} /secret.txt /x`,
    `FROM x\nCOPY \\\n  \n# note\n--from=${secret} /secret.txt /x`,
    `FROM x\nCOPY --from=${id} /secret.txt /x`,
    `FROM x\nCOPY --from= /secret.txt /x`,
  ];
  for (const text of refused)
    assert.throws(() => checkDockerfile(text, {}), /not allowed in this lab/, text);

  assert.throws(
    () => checkDockerfile(`FROM x\nCOPY --from=0 --from=${secret} /secret.txt /x`, {}),
    /the flag --from is given more than once/,
  );
  assert.throws(
    () => checkDockerfile(`FROM --platform=a --PLATFORM=b x`, {}),
    /the flag --platform is given more than once/,
  );
});

test('dockerfile check reads FROM flags', () => {
  const checked = checkDockerfile('FROM --PLATFORM=linux/amd64 hello AS one\nFROM one', {});

  assert.deepEqual(checked.images, ['hello']);
  assert.equal(
    checked.render(new Map([['hello', `lab-${SESSION}/hello:latest`]])),
    `FROM lab-${SESSION}/hello:latest AS one\nFROM one`,
  );
});

test('dockerfile check renders continued lines', () => {
  const checked = checkDockerfile('FROM hello\nRUN echo a \\\n\n  b\nCOPY --from=0 /a /b', {});

  assert.equal(
    checked.render(new Map([['hello', 'h']])),
    'FROM h\nRUN echo a   b\nCOPY --from=0 /a /b',
  );
});

test('dockerfile check resolves base images', () => {
  const checked = checkDockerfile(
    'ARG BASE=hello\nFROM ${BASE} AS one\nRUN true\nFROM one\nCOPY --from=one /a /a',
    {},
  );

  assert.deepEqual(checked.images, ['hello']);
  assert.match(
    checked.render(new Map([['hello', `lab-${SESSION}/hello:latest`]])),
    new RegExp(`FROM lab-${SESSION}/hello:latest AS one`),
  );
});

test('refs move into the session namespace', () => {
  assert.equal(toEngineRef('hello', SESSION), `lab-${SESSION}/hello:latest`);
  assert.equal(toEngineRef('ddev-lab/ddev-base:trixie', SESSION), 'ddev-lab/ddev-base:trixie');
  assert.equal(
    toEngineRef(`lab-ffffffffffffffff/x`, SESSION),
    `lab-${SESSION}/lab-ffffffffffffffff/x:latest`,
  );
  assert.equal(toEngineRef('localhost:5000/x', SESSION), undefined);
  assert.equal(toDisplayRef(`lab-${SESSION}/hello:latest`, SESSION), 'hello:latest');
});

test('build context gains a file', () => {
  const tar = appendContextFile(Buffer.alloc(1024), 'Dockerfile', 'FROM scratch\n');
  const twice = appendContextFile(tar, '.checked', 'FROM other\n');

  assert.equal(readContextFile(twice, 'Dockerfile'), 'FROM scratch\n');
  assert.equal(readContextFile(twice, './.checked'), 'FROM other\n');
});

test('names move into the session namespace', () => {
  assert.equal(PREFIX, `ddevlab-test-${SESSION}-`);
  assert.equal(toEngineName('web', PREFIX), `${PREFIX}web`);
  assert.equal(toEngineName('/web', PREFIX), `${PREFIX}web`);
  assert.equal(toDisplayName(`/${PREFIX}web`, PREFIX), '/web');
  assert.equal(toDisplayName(`${PREFIX}web`, PREFIX), 'web');
  assert.equal(toDisplayName(`/${PREFIX}${PREFIX}web`, PREFIX), `/${PREFIX}web`);
  assert.equal(toDisplayName('/eager_einstein', PREFIX), '/eager_einstein');
  assert.equal(
    toDisplayName('/ddevlab-test-ffffffffffffffff-web', PREFIX),
    '/ddevlab-test-ffffffffffffffff-web',
  );
});

test('conflict message shows the learner name', () => {
  const engine = `Conflict. The container name "/${PREFIX}same" is already in use by container "abc123". You have to remove (or rename) that container to be able to reuse that name.`;

  const shown = toDisplayMessage(engine, PREFIX);

  assert.match(shown, /The container name "\/same" is already in use by container "abc123"/);
  assert.doesNotMatch(shown, new RegExp(SESSION));
});

test('references resolve within the session', () => {
  const own = 'a'.repeat(64);
  const service = 'ab' + '1'.repeat(62);
  const unnamed = 'c'.repeat(64);
  const containers = [
    { Id: own, Names: [`/${PREFIX}same`], Labels: {} },
    { Id: service, Names: [`/${PREFIX}workbench`], Labels: {} },
    { Id: unnamed, Names: ['/eager_einstein'], Labels: {} },
  ];

  assert.equal(findContainer(containers, 'same', PREFIX), own);
  assert.equal(findContainer(containers, '/same', PREFIX), own);
  assert.equal(findContainer(containers, `${PREFIX}workbench`, PREFIX), service);
  assert.equal(findContainer(containers, 'workbench', PREFIX), service);
  assert.equal(findContainer(containers, 'eager_einstein', PREFIX), unnamed);
  assert.equal(findContainer(containers, own, PREFIX), own);
  assert.equal(findContainer(containers, 'ccc', PREFIX), unnamed);
  assert.equal(findContainer(containers, 'a', PREFIX), 'ambiguous');
  assert.equal(findContainer(containers, 'other', PREFIX), undefined);
  assert.equal(findContainer(containers, 'd', PREFIX), undefined);
  assert.equal(findContainer(containers, '', PREFIX), undefined);
});

test('name given before id prefix', () => {
  const named = 'f'.repeat(64);
  const byId = 'beef' + '0'.repeat(60);
  const containers = [
    { Id: byId, Names: ['/x'], Labels: {} },
    { Id: named, Names: [`/${PREFIX}beef`], Labels: {} },
  ];

  assert.equal(findContainer(containers, 'beef', PREFIX), named);
});

test('anchored name filters gain the prefix', () => {
  assert.deepEqual(namespaceNamePatterns(['^web$'], PREFIX), ['^web$', `^${PREFIX}web$`]);
  assert.deepEqual(namespaceNamePatterns(['^/web'], PREFIX), ['^/web', `^/${PREFIX}web`]);
  assert.deepEqual(namespaceNamePatterns(['web'], PREFIX), ['web']);
});

test('stats lines show the learner name', () => {
  const line = `{"read":"2024-01-01T00:00:00Z","name":"/${PREFIX}same","id":"abc","memory_stats":{"limit":18446744073709551615}}`;

  const shown = displayStatsName(line, PREFIX);

  assert.match(shown, /"name":"\/same"/);
  assert.match(shown, /"limit":18446744073709551615/);
  assert.doesNotMatch(shown, new RegExp(SESSION));
});

test('create body adds the name as alias', () => {
  const body = buildCreateBody(
    { Image: 'x', NetworkingConfig: { EndpointsConfig: { 'ddevlab-x': { Aliases: ['db'] } } } },
    { ...CONTEXT, name: 'same' },
  );

  assert.deepEqual(body.NetworkingConfig, {
    EndpointsConfig: { net1: { Aliases: ['same', 'db'] } },
  });
});

test('create body rejects links and foreign aliases', () => {
  assert.throws(
    () => buildCreateBody({ HostConfig: { Links: ['/web:db'] } }, CONTEXT),
    /Links \(--link \/web:db\) is not allowed in this lab/,
  );
  assert.throws(
    () =>
      buildCreateBody(
        { NetworkingConfig: { EndpointsConfig: { other: { Aliases: ['x'] } } } },
        CONTEXT,
      ),
    /network "other"/,
  );
  assert.throws(
    () =>
      buildCreateBody(
        { NetworkingConfig: { EndpointsConfig: { net1: { Aliases: ['a b'] } } } },
        CONTEXT,
      ),
    /Invalid network alias \(a b\)/,
  );
});

test('docker top options are a fixed list', () => {
  for (const allowed of ['', '-ef', 'aux', '-o pid,user,args', '-eo pid,ppid,%cpu,comm']) {
    assert.equal(allowedPsArgs(allowed), true, allowed);
  }
  // Each of these lets the engine's ps print host processes or their environments.
  for (const refused of [
    '-ouid=PID -oargs -e --forest',
    '-ouid=PID -oargs ax e f',
    'aux e',
    'axf',
    '-o pid,args --forest',
    '-o vsz=PID',
    '-o pid,args -q 1',
    '-o pid,environ',
  ]) {
    assert.equal(allowedPsArgs(refused), false, refused);
  }
});

test('health check durations are clamped', () => {
  const body = buildCreateBody(
    {
      Image: 'x',
      Healthcheck: {
        Test: ['CMD', 'true'],
        Interval: 1e6,
        Timeout: 1e6,
        StartPeriod: 1e6,
        Retries: 1e6,
      },
    },
    CONTEXT,
  );

  assert.deepEqual(body.Healthcheck, {
    Test: ['CMD', 'true'],
    Interval: 5e9,
    Timeout: 5e9,
    StartPeriod: 5e9,
    Retries: 10,
  });
});

test('health check keeps longer durations', () => {
  const check = healthcheckFor(
    { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 30e9, Retries: 3 },
    undefined,
  );

  assert.deepEqual(check, {
    Test: ['CMD-SHELL', 'curl -f http://localhost/'],
    Interval: 30e9,
    Timeout: 0,
    StartPeriod: 0,
    Retries: 3,
  });
});

test('health check from the image is clamped', () => {
  const image = { Test: ['CMD', 'true'], Interval: 1e6, Timeout: 3e9, Retries: 3 };

  assert.deepEqual(healthcheckFor(undefined, image), {
    Test: ['CMD', 'true'],
    Interval: 5e9,
    Timeout: 5e9,
    StartPeriod: 0,
    Retries: 3,
  });
  assert.deepEqual(healthcheckFor({ Interval: 60e9 }, image), {
    Test: ['CMD', 'true'],
    Interval: 60e9,
    Timeout: 5e9,
    StartPeriod: 0,
    Retries: 3,
  });
  assert.deepEqual(healthcheckFor({ Test: ['NONE'] }, image), { Test: ['NONE'] });
  assert.equal(healthcheckFor(undefined, undefined), undefined);
});

test('health check rejects invalid values', () => {
  assert.throws(
    () => healthcheckFor({ Test: ['CMD', 'true'], Interval: -1 }, undefined),
    /Invalid healthcheck Interval \(-1\)/,
  );
  assert.throws(
    () => healthcheckFor({ Test: ['CMD', 'true'], Retries: 'many' }, undefined),
    /Invalid healthcheck Retries/,
  );
  assert.throws(() => healthcheckFor({ Test: [1] }, undefined), /Invalid healthcheck test/);
});

test('create body rejects anonymous volumes', () => {
  assert.throws(
    () => buildCreateBody({ Image: 'x', Volumes: { '/data': {} } }, CONTEXT),
    /Anonymous volumes \(-v \/data\) is not allowed in this lab/,
  );
});

test('dockerfile check rejects VOLUME', () => {
  assert.throws(
    () => checkDockerfile('FROM x\nVOLUME /data', {}),
    /The line "VOLUME \/data" is not allowed in this lab/,
  );
  assert.throws(
    () => checkDockerfile('FROM x\nvolume ["/a", "/b"]', {}),
    /not allowed in this lab/,
  );
});

test('aliases may not take service names', () => {
  const context = { ...CONTEXT, serviceNames: ['workbench', 'web'] };
  const alias = (aliases: string[], name?: string) =>
    buildCreateBody(
      { Image: 'x', NetworkingConfig: { EndpointsConfig: { net1: { Aliases: aliases } } } },
      { ...context, name },
    );

  assert.throws(
    () => alias(['workbench']),
    /The network alias "workbench" \(--network-alias\) is not allowed in this lab/,
  );
  assert.throws(() => alias(['WEB']), /"web" is the name of a service of this lab/);
  assert.throws(() => alias([], 'Web'), /The name "Web" \(--name\) is not allowed in this lab/);
  assert.deepEqual(alias(['api'], 'db').NetworkingConfig, {
    EndpointsConfig: { net1: { Aliases: ['db', 'api'] } },
  });
  // The engine reports a --name equal to a service's as taken, with the container that has it.
  assert.deepEqual(alias([], 'web').NetworkingConfig, {
    EndpointsConfig: { net1: { Aliases: ['web'] } },
  });
});

test('exec bucket refills at its rate', () => {
  const bucket = new RateBucket(EXEC_BURST, EXEC_PER_SECOND, 0);
  const burst = Array.from({ length: EXEC_BURST }, () => bucket.take(0));

  assert.ok(burst.every(Boolean));
  assert.equal(bucket.take(0), false);
  assert.equal(bucket.take(500), false);
  assert.equal(bucket.take(1500), true);
  assert.equal(bucket.take(1500), false);
  assert.equal(bucket.take(1_000_000), true);
});
