// The body of a container the learner creates, rebuilt from the few fields a lab allows. What
// the lab forbids is refused by name, so the learner learns why; what the lab decides (network,
// limits, capabilities, labels) is set here whatever the request said.
import { LABEL_PREFIX } from '../sandbox/labels.ts';
import { badRequest, notAllowed } from './refusals.ts';

type Json = Record<string, unknown>;

export interface CreateContext {
  /** The session network's id and name; the only network a learner's container joins. */
  networkId: string;
  networkName: string;
  /** Labels every learner container carries, from managedLabels(). */
  labels: Record<string, string>;
  /** Largest memory one container may have, in bytes, and what is left of the session's budget. */
  memoryBytes: number;
  memoryLeftBytes: number;
  nanoCpus: number;
  pids: number;
  /** The name the learner gave with --name, without the session's prefix; other containers reach it by this name. */
  name?: string;
  /** The lab's service names in this session, which no learner container may take as a network alias. */
  serviceNames?: readonly string[];
  /** The image's own health check, which the container inherits unless the request replaces it. */
  imageHealthcheck?: unknown;
}

/** Fields of a container's config that pass as the learner sent them. */
const CONFIG_FIELDS = [
  'Hostname',
  'User',
  'AttachStdin',
  'AttachStdout',
  'AttachStderr',
  'Tty',
  'OpenStdin',
  'StdinOnce',
  'Env',
  'Cmd',
  'Entrypoint',
  'WorkingDir',
  'StopSignal',
  'StopTimeout',
  'ExposedPorts',
  'ArgsEscaped',
] as const;

const NETWORK_DEFAULTS = new Set(['', 'default', 'bridge']);
/** A network alias as the engine accepts it, like a container name; a few per container. */
const ALIAS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const MAX_ALIASES = 8;
const NAMESPACE_MODES = ['PidMode', 'IpcMode', 'UTSMode', 'UsernsMode', 'CgroupnsMode'] as const;
const NAMESPACE_FLAGS: Record<(typeof NAMESPACE_MODES)[number], string> = {
  PidMode: '--pid',
  IpcMode: '--ipc',
  UTSMode: '--uts',
  UsernsMode: '--userns',
  CgroupnsMode: '--cgroupns',
};

/** Refuses what the lab forbids and returns the body to send the engine, image excepted. */
export function buildCreateBody(request: Json, context: CreateContext): Json {
  const host = objectField(request, 'HostConfig');
  refuseHostConfig(host, context);

  if (nonEmpty(request.Volumes)) {
    throw notAllowed(
      `Anonymous volumes (-v ${list(request.Volumes)})`,
      "volumes are outside the container's disk quota; write to a folder in the container instead",
    );
  }

  const memory = memoryFor(host, context);
  const aliases = aliasesFor(request, context);
  const config: Json = {};
  for (const field of CONFIG_FIELDS)
    if (request[field] !== undefined) config[field] = request[field];
  const healthcheck = healthcheckFor(request.Healthcheck, context.imageHealthcheck);
  if (healthcheck) config.Healthcheck = healthcheck;

  return {
    ...config,
    Labels: { ...learnerLabels(request.Labels), ...context.labels, [MEMORY_LABEL]: String(memory) },
    HostConfig: {
      NetworkMode: context.networkId,
      Privileged: false,
      PublishAllPorts: false,
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: ['no-new-privileges:true'],
      Memory: memory,
      MemorySwap: memory,
      NanoCpus: context.nanoCpus,
      PidsLimit: context.pids,
      Ulimits: [{ Name: 'nofile', Soft: 4096, Hard: 8192 }],
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
      RestartPolicy: { Name: 'no' },
      AutoRemove: host.AutoRemove === true,
      Init: host.Init === true ? true : undefined,
      ReadonlyRootfs: host.ReadonlyRootfs === true,
      ConsoleSize: host.ConsoleSize,
    },
    NetworkingConfig: {
      EndpointsConfig: { [context.networkId]: aliases.length > 0 ? { Aliases: aliases } : {} },
    },
  };
}

/**
 * Lists the names the container has on the session network. The engine's name carries the
 * session's prefix, so the learner's --name is added as an alias, and `curl http://web` from
 * another container of the session reaches the container named web, as on any user network.
 * --network-alias values pass too; they live on the session's own network only.
 */
function aliasesFor(request: Json, context: CreateContext): string[] {
  const endpoints = objectField(objectField(request, 'NetworkingConfig'), 'EndpointsConfig');
  const requested: string[] = [];
  for (const [network, endpoint] of Object.entries(endpoints)) {
    if (
      !NETWORK_DEFAULTS.has(network) &&
      network !== context.networkId &&
      network !== context.networkName
    ) {
      throw notAllowed(
        `The network "${network}" (--network ${network})`,
        "containers join the session's network",
      );
    }
    const values = (endpoint as Json | null)?.Aliases;
    if (Array.isArray(values)) requested.push(...values.map(String));
  }

  const invalid = requested.find((alias) => !ALIAS.test(alias));
  if (invalid !== undefined)
    throw badRequest(`Invalid network alias (${invalid}): use letters, digits, '_', '.' and '-'`);
  const aliases = [...new Set([...(context.name ? [context.name] : []), ...requested])];
  if (aliases.length > MAX_ALIASES) throw notAllowed(`More than ${MAX_ALIASES} network aliases`);
  refuseServiceNames(aliases, context);
  return aliases;
}

/**
 * Rejects an alias that is a lab service's name: the session's DNS would then answer that name
 * with two addresses, and a step check could reach the learner's container instead of the lab's.
 * DNS names ignore case, so WEB counts as web. A --name equal to a service name is left to the
 * engine, which reports the name as taken.
 */
function refuseServiceNames(aliases: string[], context: CreateContext): void {
  const services = new Set((context.serviceNames ?? []).map((name) => name.toLowerCase()));
  const serviceAlias = aliases.find(
    (alias) => services.has(alias.toLowerCase()) && alias !== context.name,
  );
  const nameTaken =
    context.name !== undefined &&
    services.has(context.name.toLowerCase()) &&
    !context.serviceNames?.includes(context.name);
  if (serviceAlias !== undefined) {
    throw notAllowed(
      `The network alias "${serviceAlias}" (--network-alias)`,
      `"${serviceAlias.toLowerCase()}" is the name of a service of this lab; choose another alias`,
    );
  }
  if (nameTaken)
    throw notAllowed(
      `The name "${context.name}" (--name)`,
      `"${context.name!.toLowerCase()}" is the name of a service of this lab; choose another name`,
    );
}

/** Shortest interval, timeout and start period of a health check, in nanoseconds: 5 s. */
export const HEALTHCHECK_MIN_NS = 5e9;
/** Most retries a health check may have before it reports the container unhealthy. */
export const HEALTHCHECK_MAX_RETRIES = 10;
const HEALTHCHECK_DURATIONS = ['Interval', 'Timeout', 'StartPeriod'] as const;

/**
 * Returns the health check the container runs: the request's fields over the image's, as the
 * engine merges them, with each duration raised to at least 5 s and the retries capped. Each
 * probe is an exec that the engine and containerd run outside the container's CPU limit, so a
 * 1 ms interval would keep them busy. A zero duration keeps the engine's default (30 s).
 * Returns undefined when neither sets a test.
 */
export function healthcheckFor(requested: unknown, image: unknown): Json | undefined {
  const own = isObject(requested) ? requested : {};
  const inherited = isObject(image) ? image : {};
  const test = Array.isArray(own.Test) && own.Test.length > 0 ? own.Test : inherited.Test;
  if (!Array.isArray(test) || test.length === 0) return undefined;
  if (!test.every((word) => typeof word === 'string'))
    throw badRequest('Invalid healthcheck test: expected a list of strings');
  if (test[0] === 'NONE') return { Test: ['NONE'] };

  const check: Json = { Test: test };
  for (const field of HEALTHCHECK_DURATIONS) {
    const value = numberField(own, field) || numberField(inherited, field);
    check[field] = value === 0 ? 0 : Math.max(value, HEALTHCHECK_MIN_NS);
  }
  const retries = numberField(own, 'Retries') || numberField(inherited, 'Retries');
  check.Retries = Math.min(retries, HEALTHCHECK_MAX_RETRIES);
  return check;
}

/** Reads a health check number. A missing one is 0, as the engine reads it, and a negative one is invalid. */
function numberField(value: Json, field: string): number {
  const number = value[field] ?? 0;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) {
    throw badRequest(
      `Invalid healthcheck ${field} (${String(number)}): expected a number of 0 or more`,
    );
  }
  return number;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The label that records a learner container's memory, so the session's budget adds up from a list. */
export const MEMORY_LABEL = `${LABEL_PREFIX}.memory`;

function refuseHostConfig(host: Json, context: CreateContext): void {
  if (host.Privileged === true) throw notAllowed('A privileged container (--privileged)');
  refuseMounts(host);

  if (nonEmpty(host.PortBindings) || host.PublishAllPorts === true) {
    throw notAllowed(
      'Publishing ports (-p, -P)',
      'containers reach each other by name on the session network',
    );
  }
  if (nonEmpty(host.CapAdd))
    throw notAllowed(`Adding capabilities (--cap-add ${list(host.CapAdd)})`);
  if (nonEmpty(host.Links)) {
    throw notAllowed(
      `Links (--link ${list(host.Links)})`,
      'containers reach each other by name on the session network; add a name with --network-alias',
    );
  }

  const network = typeof host.NetworkMode === 'string' ? host.NetworkMode : '';
  if (
    !NETWORK_DEFAULTS.has(network) &&
    network !== context.networkId &&
    network !== context.networkName
  ) {
    throw notAllowed(
      `The network "${network}" (--network ${network})`,
      "containers join the session's network",
    );
  }

  for (const mode of NAMESPACE_MODES) {
    const value = host[mode];
    if (typeof value === 'string' && (value === 'host' || value.startsWith('container:'))) {
      throw notAllowed(`Sharing a namespace (${NAMESPACE_FLAGS[mode]} ${value})`);
    }
  }

  if (nonEmpty(host.Devices) || nonEmpty(host.DeviceRequests) || nonEmpty(host.DeviceCgroupRules)) {
    throw notAllowed('Giving a container devices (--device, --gpus)');
  }
  if (nonEmpty(host.SecurityOpt))
    throw notAllowed(`Security options (--security-opt ${list(host.SecurityOpt)})`);
  if (nonEmpty(host.Sysctls)) throw notAllowed('Kernel settings (--sysctl)');
  if (typeof host.CgroupParent === 'string' && host.CgroupParent !== '')
    throw notAllowed('A cgroup parent (--cgroup-parent)');
  if (typeof host.Runtime === 'string' && host.Runtime !== '' && host.Runtime !== 'runc')
    throw notAllowed(`The runtime ${host.Runtime}`);
  if (host.OomKillDisable === true)
    throw notAllowed('Turning off the OOM killer (--oom-kill-disable)');
}

function refuseMounts(host: Json): void {
  const binds = Array.isArray(host.Binds) ? host.Binds.map(String) : [];
  const hostPath = binds.find((bind) => bind.startsWith('/'));
  if (hostPath)
    throw notAllowed(
      `Mounting a host path (-v ${hostPath})`,
      'copy files in with a Dockerfile instead',
    );
  if (binds.length > 0) throw notAllowed(`Named volumes (-v ${binds[0]})`);

  const mounts = Array.isArray(host.Mounts) ? (host.Mounts as Json[]) : [];
  for (const mount of mounts) {
    if (mount.Type === 'tmpfs') continue;
    if (mount.Type === 'bind')
      throw notAllowed(`Mounting a host path (--mount source=${String(mount.Source)})`);
    throw notAllowed(`Mounts of type ${String(mount.Type)} (--mount)`);
  }
  if (nonEmpty(host.VolumesFrom))
    throw notAllowed('Volumes from another container (--volumes-from)');
  if (typeof host.VolumeDriver === 'string' && host.VolumeDriver !== '')
    throw notAllowed('Volume drivers');
}

/** The container's memory: what it asked for, or the per-container limit, within the session budget. */
function memoryFor(host: Json, context: CreateContext): number {
  const asked =
    typeof host.Memory === 'number' && host.Memory > 0 ? host.Memory : context.memoryBytes;
  const mib = (bytes: number) => `${Math.floor(bytes / 1024 / 1024)} MiB`;

  if (asked > context.memoryBytes) {
    throw notAllowed(
      `A memory limit of ${mib(asked)}`,
      `each container may have at most ${mib(context.memoryBytes)}`,
    );
  }
  if (asked > context.memoryLeftBytes) {
    throw notAllowed(
      `Another ${mib(asked)} container`,
      `your containers may use ${mib(context.memoryLeftBytes)} more; remove one with \`docker rm -f\`, or ask for less with -m`,
    );
  }
  return asked;
}

/** The learner's own labels, without any that claim to be the lab server's. */
function learnerLabels(labels: unknown): Record<string, string> {
  if (!labels || typeof labels !== 'object') return {};
  const entries = Object.entries(labels as Record<string, unknown>).filter(
    ([key]) => !key.startsWith(`${LABEL_PREFIX}.`),
  );
  return Object.fromEntries(entries.map(([key, value]) => [key, String(value)]));
}

/** Fields of an exec the learner may set; a privileged exec is refused. */
export function buildExecBody(request: Json): Json {
  if (request.Privileged === true) throw notAllowed('A privileged exec (docker exec --privileged)');

  const fields = [
    'AttachStdin',
    'AttachStdout',
    'AttachStderr',
    'DetachKeys',
    'Tty',
    'Env',
    'Cmd',
    'WorkingDir',
    'User',
  ];
  const body: Json = { Privileged: false };
  for (const field of fields) if (request[field] !== undefined) body[field] = request[field];
  if (!Array.isArray(body.Cmd) || body.Cmd.length === 0)
    throw badRequest('No exec command specified');
  return body;
}

function objectField(value: Json, field: string): Json {
  const inner = value[field];
  return inner && typeof inner === 'object' && !Array.isArray(inner) ? (inner as Json) : {};
}

function nonEmpty(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return false;
}

function list(value: unknown): string {
  return Array.isArray(value) ? value.join(',') : Object.keys(value as Json).join(',');
}
