// `npm start`: checks the Docker Engine and builds the missing images and the site. It gives back
// the sandboxes of stored sessions, removes the rest of what an earlier run left behind, and
// serves the site, the API, the terminals and the instructor's routes on one port.
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ConfigError, loadConfig, type Config } from './config.ts';
import { LabError } from './errors.ts';
import { createHttpServer } from './http/server.ts';
import { ensureImages } from './images/build.ts';
import type { ImageName } from './images/catalog.ts';
import { loadLabs } from './labs/load.ts';
import { LabDefinitionError, type Lab } from './labs/schema.ts';
import { DiskWatch } from './guards/disk-watch.ts';
import { checkEngine, effectiveDiskPolicy, effectiveRuncPolicy } from './guards/engine-check.ts';
import { installHostFirewall } from './guards/host-firewall.ts';
import { createLogger, type Logger } from './log.ts';
import { DockerProxies } from './docker-proxy/proxies.ts';
import { DockerRuntime } from './sandbox/docker-runtime.ts';
import { SessionManager } from './sessions/manager.ts';
import { ensureSite } from './site.ts';
import { listensOnAll, openRoom, roomBanner, roomUrlsFor, type Room } from './trainings/room.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2), process.env);
  const log = createLogger({ level: config.logLevel, format: config.logFormat });

  const runtime = new DockerRuntime();
  runtime.subnetPool = { range: config.subnetPool, prefix: config.subnetPrefix };
  await runtime.ping();
  await guardEngine(runtime, config, log);

  const labs = await loadLabs(path.resolve(ROOT, config.labsDir));
  const buildStarted = performance.now();
  if (config.buildImages) await buildImages(labs, log);
  const buildSeconds = (performance.now() - buildStarted) / 1000;
  if (config.buildSite)
    await ensureSite({ root: ROOT, siteDir: path.resolve(ROOT, config.siteDir), log });

  const dockerProxies = await openDockerProxies(runtime, config, log);

  const sessions = new SessionManager({ config, labs, runtime, log });
  const room = openRoom({ config, labs, sessions, log });
  if (config.buildImages) room.metrics.buildDuration.observe({ target: 'images' }, buildSeconds);
  const { adopted, removed } = await sessions.adopt();
  log.info(
    { instance: config.instance, adopted, ...removed },
    'gave back the sandboxes of stored sessions and removed the rest an earlier run left',
  );
  startPools(sessions, labs, config);
  sessions.onEnd(
    (sessionId) =>
      void dockerProxies
        .close(sessionId)
        .catch((error: unknown) =>
          log.error({ sessionId, err: error }, 'closing the docker proxy failed'),
        ),
  );
  const shutdown = { stopping: false };
  const server = createHttpServer({
    config: { ...config, siteDir: path.resolve(ROOT, config.siteDir) },
    labs,
    sessions,
    runtime,
    log,
    shutdown,
    room,
  });
  await listen(server, config);

  const diskWatch = new DiskWatch({
    runtime,
    instance: config.instance,
    limitBytes: config.containerDiskMb * 1024 * 1024,
    intervalMs: config.diskCheckSeconds * 1000,
    log,
    onOverQuota: (layer) => sessions.end(layer.sessionId, 'stopped'),
  });
  diskWatch.start();

  const { port } = server.address() as AddressInfo;
  const url = `http://${displayHost(config.host)}:${port}/`;
  room.roomUrls.push(...roomUrlsFor(config.host, port));
  room.trainings.updatePools();
  log.info({ url, roomUrls: room.roomUrls, labs: labs.size }, 'lab server listening');
  process.stdout.write(`\n  ddev-lab is running at ${url}\n${roomBanner(room, url)}`);

  installShutdown({ server, sessions, runtime, shutdown, log, room });
}

/** Fills the pools of ready sandboxes that LAB_POOL requests; each lab id it names must exist. */
function startPools(sessions: SessionManager, labs: Map<string, Lab>, config: Config): void {
  const unknown = config.pool.filter((entry) => !labs.has(entry.labId)).map((entry) => entry.labId);
  if (unknown.length > 0) {
    throw new ConfigError([
      `LAB_POOL names ${unknown.map((id) => `"${id}"`).join(', ')}, which no lab has as its id. Labs: ${[...labs.keys()].join(', ')}.`,
    ]);
  }
  for (const entry of config.pool) sessions.setPoolTarget(entry.labId, entry.size);
}

/**
 * Rejects an engine whose runc learners could escape through, or that cannot cap disk use where a
 * room needs it, and logs what weakens isolation.
 */
async function guardEngine(runtime: DockerRuntime, config: Config, log: Logger): Promise<void> {
  const facts = await runtime.inspectEngine();
  const verdict = checkEngine(
    facts,
    effectiveRuncPolicy(config.runcPolicy, config.host, config.trustProxy),
    effectiveDiskPolicy(config.diskPolicy, config.host, config.trustProxy),
  );
  for (const warning of verdict.warnings) log.warn({ runc: facts.runcVersion }, warning);

  if (config.hostFirewall) await installHostFirewall(log);
}

/** The learners' Docker proxies; what learners of an earlier run made goes first. */
async function openDockerProxies(
  runtime: DockerRuntime,
  config: Config,
  log: Logger,
): Promise<DockerProxies> {
  const proxies = new DockerProxies({
    folder: path.resolve(ROOT, config.dockerSocketDir),
    caps: {
      containers: config.dockerContainers,
      memoryBytes: config.dockerMemoryMb * 1024 * 1024,
      builds: config.dockerBuilds,
    },
    log,
  });
  const removed = await proxies.sweep(config.instance);
  log.info(
    { instance: config.instance, ...removed },
    "removed what an earlier run's learners made with docker",
  );
  runtime.dockerAccess = proxies;
  return proxies;
}

async function buildImages(labs: Map<string, Lab>, log: Logger): Promise<void> {
  const names = new Set<ImageName>();
  for (const lab of labs.values()) {
    for (const service of Object.values(lab.services)) names.add(service.image);
  }
  await ensureImages({ names: [...names], onProgress: (line) => log.info({ image: true }, line) });
}

function listen(server: ReturnType<typeof createHttpServer>, config: Config): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
}

function displayHost(host: string): string {
  // The loopback address itself: "localhost" may resolve to ::1, where a server on 0.0.0.0 is not.
  if (listensOnAll(host)) return host === '::' ? '[::1]' : '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function installShutdown(parts: {
  server: ReturnType<typeof createHttpServer>;
  sessions: SessionManager;
  runtime: DockerRuntime;
  shutdown: { stopping: boolean };
  log: Logger;
  room: Room;
}): void {
  const { server, sessions, shutdown, log, room } = parts;
  const stop = async (signal: string) => {
    if (shutdown.stopping) return;
    shutdown.stopping = true;
    log.info(
      { signal },
      'stopping: ending every session but those of open trainings in labs without a docker command',
    );
    const removed = tallyRemovals(parts.runtime);
    server.close();
    await sessions.endAll('shutdown', {
      keep: (session) => room.trainings.isTrainingLearner(session.learnerId),
    });
    server.closeAllConnections();
    log.info({ ...removed, kept: sessions.size }, stoppedMessage(removed, sessions.size));
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

/** Counts, from now on, what the runtime removes per sandbox: learners' sessions and the pool's. */
function tallyRemovals(runtime: DockerRuntime): {
  sandboxes: number;
  containers: number;
  networks: number;
} {
  const tally = { sandboxes: 0, containers: 0, networks: 0 };
  const remove = runtime.removeSandbox.bind(runtime);
  runtime.removeSandbox = async (instance, sessionId) => {
    const removed = await remove(instance, sessionId);
    tally.sandboxes += 1;
    tally.containers += removed.containers;
    tally.networks += removed.networks;
    return removed;
  };
  return tally;
}

/** Describes what the stop removed and what it kept for the next start, for the log's last line. */
function stoppedMessage(
  removed: { sandboxes: number; containers: number; networks: number },
  kept: number,
): string {
  const count = (value: number, one: string, many: string) =>
    `${value} ${value === 1 ? one : many}`;
  const containers = count(removed.containers, 'container', 'containers');
  const networks = count(removed.networks, 'network', 'networks');
  const what = `removed ${count(removed.sandboxes, 'sandbox', 'sandboxes')} (${containers}, ${networks})`;
  const left =
    kept > 0
      ? `, kept ${count(kept, 'lab session', 'lab sessions')} of open trainings for the next start`
      : '';
  return `stopped: ${what}${left}`;
}

main().catch((error: unknown) => {
  if (
    error instanceof ConfigError ||
    error instanceof LabDefinitionError ||
    error instanceof LabError
  ) {
    process.stderr.write(`ddev-lab: ${error.message}\n`);
    process.exit(1);
  }
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    process.stderr.write(
      `ddev-lab: the port is already in use. Stop the other server, or set LAB_PORT (or --port).\n`,
    );
    process.exit(1);
  }
  process.stderr.write(`ddev-lab: start failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
