// The learner's `docker` command in a workbench container, through the session's Docker proxy,
// on the real Docker Engine: what a lab allows works, what it forbids fails with its message,
// another session's objects stay invisible, and everything the learner made ends with the session.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { LABELS, labelFilter } from '../../lab-server/src/sandbox/labels.ts';
import { docker, execIn, listManaged, removeInstance } from '../helpers/docker.ts';
import { startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { TestTerminal } from '../helpers/terminal-client.ts';

const LAB_ID = 'docker-workbench';
const BASE = 'ddev-lab/ddev-base:trixie';
const SOCKET = '/run/ddev-lab/docker.sock';

const LAB = `
id: ${LAB_ID}
title: Docker workbench
summary: A workbench with the learner's docker command, and one more container to look at.
minutes: 10
services:
  workbench:
    image: workbench
    docker: true
  web:
    image: base
    command: [sleep, infinity]
terminals:
  - id: workbench
    title: workbench
    service: workbench
    user: ddev
steps:
  - id: look
    title: Look around
    body: Run docker ps.
    check:
      service: workbench
      run: "true"
    hints:
      - Run docker ps.
    solution: "true"
`;

interface LearnerSession {
  sessionId: string;
  token: string;
  workbench: string;
  web: string;
  webName: string;
  networkId: string;
}

describe('docker proxy', () => {
  const instance = uniqueInstance('dproxy');
  let labsDir: string;
  let socketDir: string;
  let server: RunningServer;
  let mine: LearnerSession;
  let theirs: LearnerSession;

  /** Runs a shell command as the learner in the workbench; output is stdout and stderr together. */
  const learner = (command: string, session: LearnerSession = mine) =>
    execIn(session.workbench, command, 'ddev');

  before(async () => {
    labsDir = await mkdtemp(path.join(tmpdir(), 'dproxy-labs-'));
    socketDir = await mkdtemp(path.join(tmpdir(), 'dproxy-sock-'));
    await writeFile(path.join(labsDir, `${LAB_ID}.yaml`), LAB);
    server = await startLabServer({
      instance,
      env: {
        LAB_LABS_DIR: labsDir,
        LAB_DOCKER_SOCKET_DIR: socketDir,
        LAB_DATABASE: ':memory:',
        LAB_DOCKER_CONTAINERS: '5',
        LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '100',
      },
    });
    mine = await startSession(server);
    theirs = await startSession(server);
  });

  after(async () => {
    await server?.kill('SIGTERM');
    await removeInstance(instance);
    await removeImages(instance);
    await rm(labsDir, { recursive: true, force: true });
    await rm(socketDir, { recursive: true, force: true });
  });

  test('workbench gets the proxy socket and nothing else', async () => {
    const info = await docker.getContainer(mine.workbench).inspect();

    const mounts = info.Mounts.map((mount) => `${mount.Source}:${mount.Destination}`);
    assert.deepEqual(mounts, [
      `${path.join(socketDir, instance, mine.sessionId, 'docker.sock')}:${SOCKET}`,
    ]);
    assert.ok(info.Config.Env.includes(`DOCKER_HOST=unix://${SOCKET}`));
    assert.equal((await docker.getContainer(mine.web).inspect()).Mounts.length, 0);
  });

  test('read-only commands work', async () => {
    const images = await learner('docker images');
    const history = await learner(`docker history ${BASE}`);
    const ps = await learner('docker ps');
    const inspect = await learner(`docker inspect --format '{{.Name}}' ${mine.webName}`);
    const logs = await learner(`docker logs ${mine.webName}`);
    const top = await learner(`docker top ${mine.webName}`);
    const stats = await learner('docker stats --no-stream');

    assert.equal(images.exitCode, 0, images.output);
    assert.match(images.output, /ddev-lab\/ddev-base\s+trixie/);
    assert.equal(history.exitCode, 0, history.output);
    assert.match(history.output, /CREATED BY/);
    assert.equal(ps.exitCode, 0, ps.output);
    assert.match(ps.output, /\sweb\n/);
    assert.match(ps.output, /\sworkbench\n/);
    assert.doesNotMatch(ps.output, new RegExp(mine.sessionId));
    assert.doesNotMatch(ps.output, new RegExp(theirs.sessionId));
    assert.equal(inspect.output.trim(), '/web');
    assert.equal(logs.exitCode, 0, logs.output);
    assert.match(top.output, /sleep infinity/);
    const renamed = await learner(`docker top ${mine.webName} -ouid=PID -oargs -e --forest`);
    assert.notEqual(renamed.exitCode, 0, renamed.output);
    assert.match(renamed.output, /The ps options "-ouid=PID -oargs -e --forest"/);
    assert.equal(stats.exitCode, 0, stats.output);
    assert.match(stats.output, /\sweb\s/);
    assert.doesNotMatch(stats.output, new RegExp(mine.sessionId));
    assert.doesNotMatch(stats.output, new RegExp(theirs.sessionId));
  });

  test('same name in two sessions', async () => {
    const first = await learner(
      `docker run -d -m 64m --name same ${BASE} sh -c 'echo first-$((40+2)); sleep 300'`,
    );
    const second = await learner(
      `docker run -d -m 64m --name same ${BASE} sh -c 'echo second-$((40+2)); sleep 300'`,
      theirs,
    );
    const firstId = first.output.trim();
    const secondId = second.output.trim();
    const ps = await learner(
      `docker ps -a --filter name=^same$ --format '{{.ID}} {{.Names}}'`,
      theirs,
    );
    const inspect = await learner(`docker inspect --format '{{.Id}} {{.Name}}' same`, theirs);
    const logs = await learner('docker logs same', theirs);
    const removed = await learner('docker rm -f same', theirs);
    const kept = await learner(`docker inspect --format '{{.Id}} {{.Name}}' same`);
    const engineNames = (await learnerContainers(instance)).map((container) => container.Names[0]);

    assert.equal(first.exitCode, 0, first.output);
    assert.equal(second.exitCode, 0, second.output);
    assert.notEqual(firstId, secondId);
    assert.equal(ps.output.trim(), `${secondId.slice(0, 12)} same`);
    assert.equal(inspect.output.trim(), `${secondId} /same`);
    assert.match(logs.output, /second-42/);
    assert.doesNotMatch(logs.output, /first-42/);
    assert.equal(removed.exitCode, 0, removed.output);
    assert.equal(kept.output.trim(), `${firstId} /same`);
    assert.ok(
      engineNames.includes(`/ddevlab-${instance}-${mine.sessionId}-same`),
      engineNames.join(' '),
    );
    assert.ok(!engineNames.includes('/same'), engineNames.join(' '));
    await learner('docker rm -f same');
  });

  test('name clash shows only own container', async () => {
    const first = await learner(`docker run -d -m 64m --name twice ${BASE} sleep 300`);
    const again = await learner(`docker run -d -m 64m --name twice ${BASE} sleep 300`);
    const service = await learner(`docker create -m 64m --name web ${BASE} true`);
    const probe = await learner(`docker inspect ${theirs.webName}`);
    await learner('docker rm -f twice');

    assert.equal(first.exitCode, 0, first.output);
    assert.notEqual(again.exitCode, 0);
    assert.match(
      again.output,
      new RegExp(
        `The container name "/twice" is already in use by container "${first.output.trim()}"`,
      ),
    );
    assert.doesNotMatch(again.output, new RegExp(`${mine.sessionId}|${theirs.sessionId}`));
    assert.notEqual(service.exitCode, 0);
    assert.match(
      service.output,
      new RegExp(`The container name "/web" is already in use by container "${mine.web}"`),
    );
    assert.notEqual(probe.exitCode, 0);
    assert.match(probe.output, new RegExp(`No such object: ${theirs.webName}`));
  });

  test('containers reach each other by name', async () => {
    const server = await learner(`docker run -d -m 64m --name named ${BASE} sleep 300`);
    const lookup = await learner(`docker run --rm -m 64m ${BASE} getent hosts named`);
    const unnamed = await learner(`docker run -d -m 64m ${BASE} sleep 300`);
    const shown = await learner(
      `docker ps --filter id=${unnamed.output.trim()} --format '{{.Names}}'`,
    );
    const byRandomName = await learner(`docker inspect --format '{{.Id}}' ${shown.output.trim()}`);
    await learner(`docker rm -f named ${unnamed.output.trim()}`);

    assert.equal(server.exitCode, 0, server.output);
    assert.equal(lookup.exitCode, 0, lookup.output);
    assert.match(lookup.output, /\snamed$/m);
    assert.match(shown.output.trim(), /^[a-z]+_[a-z]+\d?$/);
    assert.equal(byRandomName.output.trim(), unnamed.output.trim());
  });

  test('exec and run work, confined to the session', async () => {
    const exec = await learner(`docker exec ${mine.webName} echo exec-$((40+2))`);
    const run = await learner(
      `docker run --rm ${BASE} sh -c 'echo run-$((40+2)); grep -E "^(CapEff|NoNewPrivs):" /proc/self/status'`,
    );

    assert.equal(exec.exitCode, 0, exec.output);
    assert.match(exec.output, /exec-42/);
    assert.equal(run.exitCode, 0, run.output);
    assert.match(run.output, /run-42/);
    assert.match(run.output, /CapEff:\s+0000000000000000/);
    assert.match(run.output, /NoNewPrivs:\s+1/);
  });

  test('docker diff reads own containers only', async () => {
    const changed = await learner(
      `docker exec ${mine.webName} sh -c 'echo diff-$((40+2)) > /tmp/diff.txt'`,
    );
    const diff = await learner(`docker diff ${mine.webName}`);
    const other = await learner(`docker diff ${theirs.web}`);

    assert.equal(changed.exitCode, 0, changed.output);
    assert.equal(diff.exitCode, 0, diff.output);
    assert.match(diff.output, /^A \/tmp\/diff\.txt$/m);
    assert.notEqual(other.exitCode, 0);
    assert.match(other.output, new RegExp(`No such container: ${theirs.web}`));
  });

  test('start, stop, restart and rm work on a learner container', async () => {
    const started = await learner(`docker run -d --name mine-${mine.sessionId} ${BASE} sleep 300`);
    const info = await docker.getContainer(started.output.trim()).inspect();
    const steps = await learner(
      `set -e; c=mine-${mine.sessionId}; docker stop -t 1 $c; docker start $c; docker restart -t 1 $c; docker rm -f $c`,
    );

    assert.equal(started.exitCode, 0, started.output);
    assert.equal(info.HostConfig.NetworkMode, mine.networkId);
    assert.equal(info.HostConfig.Privileged, false);
    assert.deepEqual(info.HostConfig.CapDrop, ['ALL']);
    assert.ok((info.HostConfig.Memory ?? 0) > 0);
    assert.equal(info.Config.Labels[LABELS.session], mine.sessionId);
    assert.equal(steps.exitCode, 0, steps.output);
  });

  test('build tags into the session and runs from the result', async () => {
    const built = await learner(
      `mkdir -p /tmp/hello && printf 'FROM ${BASE}\\nRUN echo layer-$((40+2)) > /layer.txt\\n' > /tmp/hello/Dockerfile && docker build -t hello /tmp/hello`,
    );
    const images = await learner('docker images hello');
    const run = await learner('docker run --rm hello cat /layer.txt');
    const engine = await docker.getImage(`lab-${mine.sessionId}/hello:latest`).inspect();
    const elsewhere = await learner('docker images hello', theirs);

    assert.equal(built.exitCode, 0, built.output);
    assert.match(images.output, /^hello\s+latest/m);
    assert.match(run.output, /layer-42/);
    assert.equal(engine.Config.Labels?.[LABELS.session], mine.sessionId);
    assert.doesNotMatch(elsewhere.output, /hello/);
  });

  test('forbidden run options fail with their message', async () => {
    const cases: [string, RegExp][] = [
      ['--privileged', /privileged container .*not allowed in this lab/],
      ['-v /:/host', /Mounting a host path \(-v \/:\/host\) is not allowed in this lab/],
      ['-p 80:80', /Publishing ports .* is not allowed in this lab/],
      [
        '--cap-add SYS_ADMIN',
        /Adding capabilities \(--cap-add SYS_ADMIN\) is not allowed in this lab/,
      ],
      ['--network host', /network "host" .*is not allowed in this lab/],
      ['--pid host', /Sharing a namespace \(--pid host\) is not allowed in this lab/],
    ];

    for (const [option, message] of cases) {
      const result = await learner(`docker run --rm ${option} ${BASE} true`);

      assert.notEqual(result.exitCode, 0, option);
      assert.match(result.output, message, option);
    }
    const image = await learner('docker run --rm alpine true');
    assert.notEqual(image.exitCode, 0);
    assert.match(image.output, /image "alpine" is not allowed in this lab/);
    assert.equal((await learnerContainers(instance, mine.sessionId)).length, 0);
  });

  test("another session's objects do not exist", async () => {
    const exec = await learner(`docker exec ${theirs.web} true`);
    const network = await learner(`docker inspect ${theirs.networkId}`);
    const list = await api(
      `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`${LABELS.session}=${theirs.sessionId}`] }))}`,
    );
    const all = await api('/containers/json?all=1');

    assert.notEqual(exec.exitCode, 0);
    assert.match(exec.output, new RegExp(`No such container: ${theirs.web}`));
    assert.notEqual(network.exitCode, 0);
    assert.match(network.output, /No such object/);
    assert.equal(list.body, '[]');
    assert.ok(!all.body.includes(theirs.sessionId), all.body);
    assert.ok(all.body.includes(mine.web));
  });

  test('calls not on the list are refused', async () => {
    const bind = await api('/containers/create', 'POST', {
      Image: BASE,
      HostConfig: { Binds: ['/:/host'] },
    });
    const pull = await api('/images/create?fromImage=alpine&tag=latest', 'POST');
    const volume = await api('/volumes/create', 'POST', {
      Name: 'host',
      Driver: 'local',
      DriverOpts: { type: 'none', o: 'bind', device: '/' },
    });
    const swarm = await api('/swarm/init', 'POST', { ListenAddr: '0.0.0.0:2377' });

    assert.equal(bind.status, 403, bind.body);
    assert.match(bind.body, /Mounting a host path .* not allowed in this lab/);
    assert.equal(pull.status, 403, pull.body);
    assert.match(pull.body, /Pulling or importing images is not allowed in this lab/);
    assert.equal(volume.status, 403, volume.body);
    assert.match(volume.body, /volumes .*is not allowed in this lab/i);
    assert.equal(swarm.status, 403, swarm.body);
    assert.match(swarm.body, /Swarm mode .*is not allowed in this lab/);
    assert.equal((await learnerContainers(instance, mine.sessionId)).length, 0);
  });

  test('health check interval is clamped', async () => {
    const run = await learner(
      `docker run -d -m 64m --health-cmd true --health-interval 1ms --health-timeout 1ms --health-retries 100000 ${BASE} sleep 300`,
    );
    const built = await learner(
      `mkdir -p /tmp/fast && printf 'FROM ${BASE}\\nHEALTHCHECK --interval=1ms CMD true\\n' > /tmp/fast/Dockerfile && docker build -q -t fast /tmp/fast`,
    );
    const inherited = await learner(`docker run -d -m 64m fast sleep 300`);
    const check = (await docker.getContainer(run.output.trim()).inspect()).Config.Healthcheck;
    const fromImage = (await docker.getContainer(inherited.output.trim()).inspect()).Config
      .Healthcheck;
    await learner(`docker rm -f ${run.output.trim()} ${inherited.output.trim()}`);

    assert.equal(run.exitCode, 0, run.output);
    assert.equal(check?.Interval, 5e9);
    assert.equal(check?.Timeout, 5e9);
    assert.equal(check?.Retries, 10);
    assert.equal(built.exitCode, 0, built.output);
    assert.equal(inherited.exitCode, 0, inherited.output);
    assert.equal(fromImage?.Interval, 5e9);
  });

  test('volumes never escape the quota', async () => {
    const build = await learner(
      `mkdir -p /tmp/vol && printf 'FROM ${BASE}\\nVOLUME /data\\n' > /tmp/vol/Dockerfile && docker build -t vol /tmp/vol`,
    );
    const anonymous = await learner(`docker run --rm -m 64m -v /data ${BASE} true`);
    const repo = `lab-${mine.sessionId}/withvolume`;
    const labels = [
      `${LABELS.managed}=true`,
      `${LABELS.instance}=${instance}`,
      `${LABELS.session}=${mine.sessionId}`,
      `${LABELS.kind}=image`,
      'dev.ddevlab.created-by=learner',
    ];
    execFileSync('docker', [
      'commit',
      '--change',
      'VOLUME /data',
      ...labels.flatMap((label) => ['--change', `LABEL ${label}`]),
      mine.web,
      `${repo}:latest`,
    ]);
    const fromImage = await learner('docker run --rm -m 64m withvolume true');

    assert.notEqual(build.exitCode, 0);
    assert.match(build.output, /The line "VOLUME \/data" is not allowed in this lab/);
    assert.notEqual(anonymous.exitCode, 0);
    assert.match(anonymous.output, /Anonymous volumes \(-v \/data\) is not allowed in this lab/);
    assert.notEqual(fromImage.exitCode, 0);
    assert.match(fromImage.output, /declares VOLUME \/data, is not allowed in this lab/);
    assert.equal((await learnerContainers(instance, mine.sessionId)).length, 0);
  });

  test('service names are not aliases', async () => {
    // The CLI sends aliases only with --network; the session's network is the one listed.
    const run = (alias: string) =>
      learner(
        `docker run --rm -m 64m --network "$(docker network ls --format '{{.Name}}' | head -n 1)" --network-alias ${alias} ${BASE} true`,
      );
    const alias = await run('workbench');
    const upper = await run('WEB');
    const other = await run('api');

    assert.notEqual(alias.exitCode, 0);
    assert.match(
      alias.output,
      /network alias "workbench" \(--network-alias\) is not allowed in this lab/,
    );
    assert.notEqual(upper.exitCode, 0);
    assert.match(upper.output, /"web" is the name of a service of this lab/);
    assert.equal(other.exitCode, 0, other.output);
  });

  test('oversized create body gets 413', async () => {
    const result = await learner(
      `(printf '{"Image":"'; head -c 2097152 /dev/zero | tr '\\0' a; printf '"}') | curl -s -o /tmp/reply -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @- --unix-socket ${SOCKET} http://docker/v1.41/containers/create; echo; cat /tmp/reply`,
    );
    const [status = '', ...rest] = result.output.split('\n');

    assert.equal(status, '413', result.output);
    assert.match(JSON.parse(rest.join('\n')).message, /larger than 1 MiB/);
    assert.doesNotMatch(server.output(), /docker call failed in the proxy/);
  });

  test('docker exec -it and run -it get a TTY that follows resizes', async () => {
    await using terminal = await TestTerminal.open(server.url, mine.sessionId, mine.token, {
      terminalId: 'workbench',
      cols: 80,
      rows: 24,
    });

    terminal.type(`docker exec -it ${mine.webName} bash\r`);
    // The CLI sizes the exec's TTY just after it starts; a loaded machine can run stty first.
    terminal.type('sleep 1; stty size; echo tty-$((40+2))\r');
    await terminal.waitFor(/24 80\s+tty-42/);
    terminal.send({ type: 'resize', cols: 100, rows: 30 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    terminal.type('stty size; echo resized-$((40+2))\r');
    await terminal.waitFor(/30 100\s+resized-42/);
    terminal.type('exit\r');
    await terminal.waitFor(/resized-42[\s\S]*exit[\s\S]*ddev@workbench/);
    terminal.type(`docker run -it --rm ${BASE} bash\r`);
    terminal.type('echo run-it-$((40+2)); exit\r');
    await terminal.waitFor(/run-it-42/, 30_000);

    // The --rm container counts against the session's memory until the engine has removed it.
    await waitUntil(async () => (await learnerContainers(instance, mine.sessionId)).length === 0);
  });

  test('exec creation is rate limited', async () => {
    // Exec creations without a start are quick: 100 of them take far less than the 70 s that
    // would refill the bucket.
    const result = await learner(
      `for i in $(seq 100); do curl -s -o /tmp/exec-reply -w '%{http_code}\\n' -X POST -H 'Content-Type: application/json' -d '{"Cmd":["true"]}' --unix-socket ${SOCKET} http://docker/v1.41/containers/web/exec; done; cat /tmp/exec-reply`,
      theirs,
    );
    const codes = result.output.split('\n').filter((line) => /^\d{3}$/.test(line));

    assert.equal(codes.length, 100, result.output);
    assert.ok(
      codes.slice(0, 30).every((code) => code === '201'),
      codes.join(' '),
    );
    assert.ok(codes.includes('429'), codes.join(' '));
    assert.match(result.output, /Too many docker exec calls/);
  });

  test('session end removes what the learner made', async () => {
    const kept = await learner(`docker run -d -m 128m ${BASE} sleep 300`);
    assert.equal(kept.exitCode, 0, kept.output);

    const response = await fetch(`${server.url}/api/sessions/${mine.sessionId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${mine.token}` },
    });
    assert.equal(response.status, 204);
    await waitUntil(
      async () =>
        (await sessionImages(mine.sessionId)).length === 0 &&
        (await learnerContainers(instance, mine.sessionId)).length === 0,
    );

    assert.equal(existsSync(path.join(socketDir, instance, mine.sessionId)), false);
    assert.equal((await listManaged(instance, mine.sessionId)).containers.length, 0);
  });

  /** A raw Engine API call from the workbench, with curl on the proxy socket. */
  async function api(
    pathAndQuery: string,
    method = 'GET',
    body?: unknown,
  ): Promise<{ status: number; body: string }> {
    const data =
      body === undefined ? '' : `-H 'Content-Type: application/json' -d '${JSON.stringify(body)}'`;
    const result = await learner(
      `curl -s -o /tmp/reply -w '%{http_code}' -X ${method} ${data} --unix-socket ${SOCKET} 'http://docker/v1.41${pathAndQuery}'; echo; cat /tmp/reply`,
    );
    const [status = '', ...rest] = result.output.split('\n');
    return { status: Number(status), body: rest.join('\n').trim() };
  }

  async function startSession(running: RunningServer): Promise<LearnerSession> {
    const response = await fetch(`${running.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labId: LAB_ID }),
    });
    assert.equal(response.status, 201, await response.clone().text());
    const { sessionId, token } = (await response.json()) as { sessionId: string; token: string };

    const { containers, networks } = await listManaged(instance, sessionId);
    const byService = (name: string) =>
      containers.find((container) => container.Labels[LABELS.service] === name)!;
    return {
      sessionId,
      token,
      workbench: byService('workbench').Id,
      web: byService('web').Id,
      webName: byService('web').Names[0]!.slice(1),
      networkId: networks[0]!.Id,
    };
  }
});

async function learnerContainers(instance: string, sessionId?: string) {
  const session: Record<string, string> = sessionId ? { [LABELS.session]: sessionId } : {};
  const filters = JSON.stringify(
    labelFilter({
      [LABELS.instance]: instance,
      ...session,
      [`${LABELS.managed}`]: 'true',
      'dev.ddevlab.created-by': 'learner',
    }),
  );
  return docker.listContainers({ all: true, filters });
}

async function sessionImages(sessionId: string) {
  return docker.listImages({
    filters: JSON.stringify(labelFilter({ [LABELS.session]: sessionId })),
  });
}

/** Removes the images learners of this test instance built, by label. */
async function removeImages(instance: string): Promise<void> {
  const images = await docker.listImages({
    filters: JSON.stringify(labelFilter({ [LABELS.instance]: instance, [LABELS.kind]: 'image' })),
  });
  await Promise.all(
    images.map((image) =>
      docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`condition not met within ${timeoutMs} ms`);
}
