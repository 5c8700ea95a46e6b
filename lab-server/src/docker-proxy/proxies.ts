// The lab server's Docker proxies, one per session that asked for `docker`. Each listens on a
// socket in a folder of its own under the configured folder (mode 0700, so no other user on
// the host reaches it); the socket is handed to uid 1000, the learner's account in the images.
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

import type { Logger } from '../log.ts';
import type { DockerAccessProvider, DockerAccessSession } from '../sandbox/docker-proxy-access.ts';
import { EngineSocket } from '../sandbox/engine-socket.ts';
import { LABELS, labelFilter } from '../sandbox/labels.ts';
import { StepBuilder } from '../sandbox/step-builder/builder.ts';
import { CREATED_BY_LABEL, CREATED_BY_LEARNER, ProxyContext, type ProxyCaps } from './context.ts';
import { withQuery } from './forward.ts';
import { SessionProxy } from './session-proxy.ts';

/** The learner's uid and gid in every teaching image. */
const LEARNER_UID = 1000;

/** Linux limits a Unix socket's path to 107 bytes. */
const SOCKET_PATH_LIMIT = 107;

export class DockerProxies implements DockerAccessProvider {
  private readonly proxies = new Map<
    string,
    { proxy: SessionProxy; folder: string; instance: string }
  >();
  private readonly folder: string;
  private readonly engine: EngineSocket;
  private readonly caps: ProxyCaps;
  private readonly log: Logger;
  private readonly builder: StepBuilder;

  constructor(options: {
    folder: string;
    caps: ProxyCaps;
    log: Logger;
    engine?: EngineSocket;
    builder?: StepBuilder;
  }) {
    this.folder = path.resolve(options.folder);
    this.caps = options.caps;
    this.log = options.log;
    this.engine = options.engine ?? new EngineSocket();
    this.builder = options.builder ?? new StepBuilder();
  }

  async open(session: DockerAccessSession): Promise<string> {
    const folder = path.join(this.folder, session.instance, session.sessionId);
    const socketPath = path.join(folder, 'docker.sock');
    if (Buffer.byteLength(socketPath) > SOCKET_PATH_LIMIT) {
      throw new Error(
        `the Docker proxy socket path ${socketPath} is longer than ${SOCKET_PATH_LIMIT} bytes; set LAB_DOCKER_SOCKET_DIR to a shorter folder`,
      );
    }

    await makePrivateFolders(this.folder, folder);
    await rm(socketPath, { force: true });

    const network = await this.engine.json<{ Name: string }>(
      'GET',
      `/networks/${session.networkId}`,
    );
    const context = new ProxyContext({
      session,
      engine: this.engine,
      caps: this.caps,
      networkName: network.value.Name,
      builder: this.builder,
    });
    const proxy = new SessionProxy(context, this.log);
    await proxy.listen(socketPath);
    await handToLearner(socketPath, this.log);

    this.proxies.set(session.sessionId, { proxy, folder, instance: session.instance });
    this.log.info({ sessionId: session.sessionId, socketPath }, 'docker proxy started');
    return socketPath;
  }

  async close(sessionId: string): Promise<void> {
    const entry = this.proxies.get(sessionId);
    if (!entry) return;
    this.proxies.delete(sessionId);

    await entry.proxy.close();
    const removed = await this.removeLearnerObjects({
      [LABELS.instance]: entry.instance,
      [LABELS.session]: sessionId,
    });
    await rm(entry.folder, { recursive: true, force: true });
    this.log.info({ sessionId, ...removed }, 'docker proxy stopped');
  }

  /** Removes what learners of an earlier run of this instance made, and its socket folders. */
  async sweep(instance: string): Promise<{ containers: number; images: number }> {
    const removed = await this.removeLearnerObjects({ [LABELS.instance]: instance });
    await rm(path.join(this.folder, instance), { recursive: true, force: true });
    return removed;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.proxies.keys()].map((sessionId) => this.close(sessionId)));
  }

  /** Containers first, so that nothing uses the images when they go. */
  private async removeLearnerObjects(
    labels: Record<string, string>,
  ): Promise<{ containers: number; images: number }> {
    const filters = JSON.stringify(
      labelFilter({ [LABELS.managed]: 'true', ...labels, [CREATED_BY_LABEL]: CREATED_BY_LEARNER }),
    );

    const containers = await this.engine.json<{ Id: string }[]>(
      'GET',
      withQuery('/containers/json', new URLSearchParams({ all: '1', filters })),
    );
    for (const container of containers.value)
      await this.engine.call('DELETE', `/containers/${container.Id}?force=1&v=1`);

    const images = await this.engine.json<{ Id: string }[]>(
      'GET',
      withQuery('/images/json', new URLSearchParams({ filters })),
    );
    for (const image of images.value) {
      const reply = await this.engine.call('DELETE', `/images/${image.Id}?force=1`);
      if (reply.status >= 300 && reply.status !== 404)
        this.log.warn(
          { imageId: image.Id, status: reply.status },
          'removing a learner image failed',
        );
    }
    return { containers: containers.value.length, images: images.value.length };
  }
}

/** Creates the folders with mode 0700, whatever the umask, down to the session's own. */
async function makePrivateFolders(root: string, folder: string): Promise<void> {
  await mkdir(folder, { recursive: true, mode: 0o700 });
  for (let current = folder; current.startsWith(root); current = path.dirname(current)) {
    await chmod(current, 0o700);
    if (current === root) break;
  }
}

/**
 * Gives the socket to uid 1000, the learner inside the container. A server that does not run as
 * root cannot, and opens the socket to every user instead: the 0700 folders still keep other
 * users of the host away, and only the session's container has the socket mounted.
 */
async function handToLearner(socketPath: string, log: Logger): Promise<void> {
  try {
    await chown(socketPath, LEARNER_UID, LEARNER_UID);
    await chmod(socketPath, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
    await chmod(socketPath, 0o666);
    log.warn(
      { socketPath },
      'the lab server is not root: the docker proxy socket is open to every user in its 0700 folder',
    );
  }
}
