// The proxy's pure rules: which calls parse, what a create body becomes, which Dockerfiles pass.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { appendContextFile, readContextFile } from '../../lab-server/src/docker-proxy/build-context.ts';
import { buildCreateBody, buildExecBody } from '../../lab-server/src/docker-proxy/container-spec.ts';
import { checkDockerfile } from '../../lab-server/src/docker-proxy/dockerfile-check.ts';
import { toDisplayRef, toEngineRef } from '../../lab-server/src/docker-proxy/refs.ts';
import { parseRequest } from '../../lab-server/src/docker-proxy/routes.ts';

const SESSION = '0123456789abcdef';
const CONTEXT = { networkId: 'net1', networkName: 'ddevlab-x', labels: { 'dev.ddevlab.session': SESSION }, memoryBytes: 512 << 20, memoryLeftBytes: 1024 << 20, nanoCpus: 1e9, pids: 256 };

test('routes parse versioned paths', () => {
  assert.deepEqual(parseRequest('GET', '/v1.41/containers/json?all=1').route, { call: 'containers.list' });
  assert.deepEqual(parseRequest('GET', '/images/ddev-lab/ddev-base:trixie/history').route, { call: 'images.history', ref: 'ddev-lab/ddev-base:trixie' });
});

test('routes parse docker diff', () => {
  const parsed = parseRequest('GET', '/v1.41/containers/web/changes');

  assert.deepEqual(parsed.route, { call: 'containers.changes', id: 'web' });
  assert.throws(() => parseRequest('POST', '/v1.41/containers/web/changes'), (error: { status: number }) => error.status === 403);
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
    assert.throws(() => parseRequest(method, path), (error: { status: number }) => error.status === status, path);
  }
});

test('create body forces network and limits', () => {
  const body = buildCreateBody({ Image: 'x', Cmd: ['true'], Labels: { 'dev.ddevlab.session': 'other', mine: '1' }, HostConfig: { NetworkMode: 'default' } }, CONTEXT);
  const host = body.HostConfig as Record<string, unknown>;

  assert.equal(host.NetworkMode, 'net1');
  assert.deepEqual(host.CapDrop, ['ALL']);
  assert.equal(host.Memory, 512 << 20);
  assert.equal(host.PidsLimit, 256);
  assert.deepEqual(body.Labels, { mine: '1', 'dev.ddevlab.session': SESSION, 'dev.ddevlab.memory': String(512 << 20) });
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
    assert.throws(() => buildCreateBody({ HostConfig: host }, CONTEXT), /not allowed in this lab/, JSON.stringify(host));
  }
});

test('exec body rejects privileged', () => {
  assert.throws(() => buildExecBody({ Cmd: ['sh'], Privileged: true }), /not allowed in this lab/);
  assert.equal(buildExecBody({ Cmd: ['sh'], User: 'root' }).Privileged, false);
});

test('dockerfile check rejects fetches', () => {
  const cases = ['FROM x\nADD https://169.254.169.254/ /m', 'FROM x\nONBUILD RUN id', 'FROM x\nCOPY --from=alpine / /', 'ARG B\nFROM $B'];
  for (const text of cases) assert.throws(() => checkDockerfile(text, {}), /not allowed in this lab/, text);
});

test('dockerfile check resolves base images', () => {
  const checked = checkDockerfile('ARG BASE=hello\nFROM ${BASE} AS one\nRUN true\nFROM one\nCOPY --from=one /a /a', {});

  assert.deepEqual(checked.images, ['hello']);
  assert.match(checked.render(new Map([['hello', `lab-${SESSION}/hello:latest`]])), new RegExp(`FROM lab-${SESSION}/hello:latest AS one`));
});

test('refs move into the session namespace', () => {
  assert.equal(toEngineRef('hello', SESSION), `lab-${SESSION}/hello:latest`);
  assert.equal(toEngineRef('ddev-lab/ddev-base:trixie', SESSION), 'ddev-lab/ddev-base:trixie');
  assert.equal(toEngineRef(`lab-ffffffffffffffff/x`, SESSION), `lab-${SESSION}/lab-ffffffffffffffff/x:latest`);
  assert.equal(toEngineRef('localhost:5000/x', SESSION), undefined);
  assert.equal(toDisplayRef(`lab-${SESSION}/hello:latest`, SESSION), 'hello:latest');
});

test('build context gains a file', () => {
  const tar = appendContextFile(Buffer.alloc(1024), 'Dockerfile', 'FROM scratch\n');
  const twice = appendContextFile(tar, '.checked', 'FROM other\n');

  assert.equal(readContextFile(twice, 'Dockerfile'), 'FROM scratch\n');
  assert.equal(readContextFile(twice, './.checked'), 'FROM other\n');
});
