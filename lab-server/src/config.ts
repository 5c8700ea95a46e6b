// The lab server's settings, parsed once at start from flags and the environment into a frozen
// object. Flags win over environment variables; defaults suit a training host for a room.
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { z } from 'zod';

import { settingName } from './http/host-check.ts';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

const schema = z.object({
  host: z.string().min(1),
  port,
  instance: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'lower-case letters, digits and dashes, at most 41'),
  siteDir: z.string().min(1),
  labsDir: z.string().min(1),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  logFormat: z.enum(['text', 'json'], { error: 'expected text, json or auto' }),
  buildImages: z.boolean(),
  buildSite: z.boolean(),
  sessionMinutes: z.coerce
    .number()
    .positive()
    .max(24 * 60),
  maxSessions: positiveInt,
  containerMemoryMb: positiveInt.min(64),
  containerCpus: z.coerce.number().positive().max(64),
  containerPids: positiveInt.min(16),
  checkTimeoutSeconds: positiveInt.max(600),
  sessionMaxMinutes: z.coerce
    .number()
    .positive()
    .max(24 * 60),
  extendMinutes: z.coerce
    .number()
    .positive()
    .max(24 * 60),
  idleMinutes: z.coerce
    .number()
    .positive()
    .max(24 * 60),
  closedGraceSeconds: z.coerce
    .number()
    .positive()
    .max(24 * 3600),
  databasePath: z.string().min(1),
  terminalGraceSeconds: z.coerce
    .number()
    .min(0)
    .max(24 * 3600),
  terminalBufferKb: positiveInt.min(128).max(64 * 1024),
  terminalPingSeconds: positiveInt.max(30),
  allowedOrigins: z.array(z.url()),
  allowedHosts: z.array(
    z
      .string()
      .refine(
        (entry) => settingName(entry) !== undefined,
        'comma-separated host names or addresses, each with an optional port, such as lab.example.org',
      ),
  ),
  containerDiskMb: positiveInt.min(16),
  diskCheckSeconds: z.coerce.number().positive().max(3600),
  runcPolicy: z.enum(['auto', 'learner', 'strict']),
  diskPolicy: z.enum(['auto', 'enforced', 'measured']),
  sessionsPerClientPerMinute: positiveInt,
  sessionsPerClient: z.union([z.literal('auto'), z.coerce.number().int().min(0).max(1000)]),
  trustProxy: z.array(
    z
      .string()
      .refine(
        isProxyAddress,
        'comma-separated addresses or CIDR ranges, or loopback, linklocal, uniquelocal',
      ),
  ),
  hostFirewall: z.boolean(),
  subnetPool: z
    .string()
    .regex(
      /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/,
      'an IPv4 range in CIDR notation, such as 10.213.0.0/16',
    ),
  subnetPrefix: positiveInt.min(16).max(29),
  dockerSocketDir: z.string().min(1),
  dockerContainers: positiveInt.max(100),
  dockerMemoryMb: positiveInt.min(64),
  dockerBuilds: positiveInt.max(1000),
  pool: z.array(
    z.object({
      labId: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'each entry is a lab id, a colon and a count'),
      size: z
        .string()
        .regex(/^[0-9]{1,4}$/, 'each entry is a lab id, a colon and a count')
        .transform(Number),
    }),
  ),
  poolIdleMinutes: z.coerce
    .number()
    .positive()
    .max(24 * 60),
  poolStarts: positiveInt.max(16),
  sessionsPerLearner: positiveInt.max(20),
  instructorToken: z
    .string()
    .regex(/^[\x21-\x7e]{16,200}$/, 'at least 16 printable ASCII characters without spaces')
    .optional(),
});

/** Live anonymous sessions per client address when LAB_SESSIONS_PER_CLIENT is auto on a public host. */
export const PUBLIC_SESSIONS_PER_CLIENT = 3;

export type Config = Readonly<
  Omit<z.infer<typeof schema>, 'sessionsPerClient'> & { sessionsPerClient: number }
>;

/** The variable or flag that sets each field, for help text and error messages. */
export const SOURCES: Record<
  keyof z.infer<typeof schema>,
  { env: string; flag?: string; help: string }
> = {
  host: { env: 'LAB_HOST', flag: 'host', help: 'address to listen on (default 127.0.0.1)' },
  port: {
    env: 'LAB_PORT',
    flag: 'port',
    help: 'TCP port to listen on, 0 for any free port (default 4321)',
  },
  instance: {
    env: 'LAB_INSTANCE',
    flag: 'instance',
    help: 'name of this server; it removes only its own leftovers (default "default")',
  },
  siteDir: { env: 'LAB_SITE_DIR', help: 'folder of the built site (default dist)' },
  labsDir: { env: 'LAB_LABS_DIR', help: 'folder of lab definitions (default content/labs)' },
  logLevel: { env: 'LAB_LOG_LEVEL', flag: 'log-level', help: 'pino log level (default info)' },
  logFormat: {
    env: 'LAB_LOG_FORMAT',
    help: 'log format: text (a readable line per entry), json (a JSON object per line), or auto, which picks text on a terminal and json otherwise (default auto)',
  },
  buildImages: {
    env: 'LAB_BUILD_IMAGES',
    flag: 'no-build-images',
    help: 'build missing images at start (default 1)',
  },
  buildSite: {
    env: 'LAB_BUILD_SITE',
    flag: 'no-build-site',
    help: 'build the site at start when its sources changed (default 1)',
  },
  sessionMinutes: { env: 'LAB_SESSION_MINUTES', help: 'minutes a lab session lasts (default 45)' },
  maxSessions: {
    env: 'LAB_MAX_SESSIONS',
    help: 'sessions running at once on this server (default 60)',
  },
  containerMemoryMb: {
    env: 'LAB_CONTAINER_MEMORY_MB',
    help: 'memory limit per container in MiB, swap included (default 1024)',
  },
  containerCpus: {
    env: 'LAB_CONTAINER_CPUS',
    help: 'CPU limit per container in cores (default 1)',
  },
  containerPids: { env: 'LAB_CONTAINER_PIDS', help: 'process limit per container (default 512)' },
  checkTimeoutSeconds: {
    env: 'LAB_CHECK_TIMEOUT_SECONDS',
    help: 'seconds a step check may run (default 20)',
  },
  sessionMaxMinutes: {
    env: 'LAB_SESSION_MAX_MINUTES',
    help: 'longest a session may last in minutes, extensions included (default 120)',
  },
  extendMinutes: {
    env: 'LAB_EXTEND_MINUTES',
    help: 'minutes one press of Extend adds to a session (default 15)',
  },
  idleMinutes: {
    env: 'LAB_IDLE_MINUTES',
    help: 'minutes without a key press or click in the lab page before its session ends (default 20)',
  },
  closedGraceSeconds: {
    env: 'LAB_CLOSED_GRACE_SECONDS',
    help: 'seconds a session outlives the last heartbeat of its page, so a closed tab ends it (default 180)',
  },
  databasePath: {
    env: 'LAB_DATABASE',
    help: 'SQLite file for learners and their progress, or :memory: (default .ddev-lab/state.sqlite)',
  },
  terminalGraceSeconds: {
    env: 'LAB_TERMINAL_GRACE_SECONDS',
    help: 'seconds a shell stays alive after its page disconnects, waiting for it to reconnect (default 120)',
  },
  terminalBufferKb: {
    env: 'LAB_TERMINAL_BUFFER_KB',
    help: 'KiB of recent output kept per terminal for reconnecting pages, at least 128; it also caps unacknowledged output (default 512)',
  },
  terminalPingSeconds: {
    env: 'LAB_TERMINAL_PING_SECONDS',
    help: 'seconds between keepalive pings on a terminal socket, at most 30 so 60-second proxy idle timeouts never fire (default 20)',
  },
  allowedOrigins: {
    env: 'LAB_ALLOWED_ORIGINS',
    help: 'comma-separated extra origins allowed to open terminals',
  },
  allowedHosts: {
    env: 'LAB_ALLOWED_HOSTS',
    help: "comma-separated host names browsers use to reach this server besides its own addresses, such as a reverse proxy's name; a request for any other name gets status 421 (default none)",
  },
  containerDiskMb: {
    env: 'LAB_CONTAINER_DISK_MB',
    help: 'writable layer quota per container in MiB; a session past it ends (default 2048)',
  },
  diskCheckSeconds: {
    env: 'LAB_DISK_CHECK_SECONDS',
    help: 'seconds between measurements of writable layers (default 5)',
  },
  diskPolicy: {
    env: 'LAB_DISK_POLICY',
    help: '"enforced" rejects an engine that cannot cap writable layers (overlay2 on xfs with pquota), "measured" accepts quotas the server measures; "auto" is enforced when listening beyond loopback or trusting a reverse proxy (default auto)',
  },
  runcPolicy: {
    env: 'LAB_RUNC_POLICY',
    help: '"strict" rejects a runc with any known container escape, "learner" only one a learner reaches from a shell; "auto" is strict when listening beyond loopback or trusting a reverse proxy (default auto)',
  },
  sessionsPerClientPerMinute: {
    env: 'LAB_SESSIONS_PER_CLIENT_PER_MINUTE',
    help: 'lab sessions one client address may start per minute (default 10)',
  },
  sessionsPerClient: {
    env: 'LAB_SESSIONS_PER_CLIENT',
    help: 'lab sessions one client address may run at once, outside trainings, or 0 for no limit; "auto" is 3 when listening beyond loopback or behind a trusted proxy, else 0 (default auto)',
  },
  trustProxy: {
    env: 'LAB_TRUST_PROXY',
    help: 'reverse proxies whose X-Forwarded-For names the client address, as comma-separated addresses, CIDR ranges or loopback (default none)',
  },
  subnetPool: {
    env: 'LAB_SUBNET_POOL',
    help: "IPv4 range that session networks are carved from; keep it clear of the host's own networks (default 10.213.0.0/16)",
  },
  subnetPrefix: {
    env: 'LAB_SUBNET_PREFIX',
    help: 'prefix length of each session network, 27 gives 30 addresses (default 27)',
  },
  hostFirewall: {
    env: 'LAB_HOST_FIREWALL',
    help: "1 to add an iptables rule that keeps sandboxes from this host's services (default 1; needs root)",
  },
  dockerSocketDir: {
    env: 'LAB_DOCKER_SOCKET_DIR',
    help: "folder for the sessions' Docker proxy sockets, made mode 0700 (default .ddev-lab/docker)",
  },
  dockerContainers: {
    env: 'LAB_DOCKER_CONTAINERS',
    help: 'containers a learner may create with `docker` in one session, at once (default 5)',
  },
  dockerMemoryMb: {
    env: 'LAB_DOCKER_MEMORY_MB',
    help: 'memory in MiB of all the containers a learner creates with `docker` in one session (default 1024)',
  },
  dockerBuilds: {
    env: 'LAB_DOCKER_BUILDS',
    help: 'image builds a learner may run with `docker build` in one session (default 20)',
  },
  pool: {
    env: 'LAB_POOL',
    help: 'ready sandboxes to keep per lab, as lab-id:count pairs separated by commas, such as inside-the-web-container:5 (default none)',
  },
  poolIdleMinutes: {
    env: 'LAB_POOL_IDLE_MINUTES',
    help: 'minutes an unused pooled sandbox is kept before a fresh one replaces it (default 30)',
  },
  poolStarts: {
    env: 'LAB_POOL_STARTS',
    help: 'pooled sandboxes started at once while the pool fills (default 2)',
  },
  sessionsPerLearner: {
    env: 'LAB_SESSIONS_PER_LEARNER',
    help: 'lab sessions one learner may run at once (default 2)',
  },
  instructorToken: {
    env: 'LAB_INSTRUCTOR_TOKEN',
    help: 'token of the instructor dashboard, /metrics and the instructor API, 16 characters or more (default: a new random one, printed at start)',
  },
};

export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((line) => `  ${line}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Parses flags and environment variables; throws ConfigError listing every invalid value. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const { values: flags } = parseFlags(argv);

  const raw = {
    host: flags.host ?? env.LAB_HOST ?? '127.0.0.1',
    port: flags.port ?? env.LAB_PORT ?? '4321',
    instance: flags.instance ?? env.LAB_INSTANCE ?? 'default',
    siteDir: env.LAB_SITE_DIR ?? 'dist',
    labsDir: env.LAB_LABS_DIR ?? 'content/labs',
    logLevel: flags['log-level'] ?? env.LAB_LOG_LEVEL ?? 'info',
    logFormat: logFormatFrom(env),
    buildImages: flags['no-build-images'] ? false : parseSwitch(env.LAB_BUILD_IMAGES, true),
    buildSite: flags['no-build-site'] ? false : parseSwitch(env.LAB_BUILD_SITE, true),
    sessionMinutes: env.LAB_SESSION_MINUTES ?? '45',
    maxSessions: env.LAB_MAX_SESSIONS ?? '60',
    containerMemoryMb: env.LAB_CONTAINER_MEMORY_MB ?? '1024',
    containerCpus: env.LAB_CONTAINER_CPUS ?? '1',
    containerPids: env.LAB_CONTAINER_PIDS ?? '512',
    checkTimeoutSeconds: env.LAB_CHECK_TIMEOUT_SECONDS ?? '20',
    sessionMaxMinutes: env.LAB_SESSION_MAX_MINUTES ?? '120',
    extendMinutes: env.LAB_EXTEND_MINUTES ?? '15',
    idleMinutes: env.LAB_IDLE_MINUTES ?? '20',
    closedGraceSeconds: env.LAB_CLOSED_GRACE_SECONDS ?? '180',
    databasePath: env.LAB_DATABASE ?? '.ddev-lab/state.sqlite',
    terminalGraceSeconds: env.LAB_TERMINAL_GRACE_SECONDS ?? '120',
    terminalBufferKb: env.LAB_TERMINAL_BUFFER_KB ?? '512',
    terminalPingSeconds: env.LAB_TERMINAL_PING_SECONDS ?? '20',
    allowedOrigins: splitList(env.LAB_ALLOWED_ORIGINS),
    allowedHosts: splitList(env.LAB_ALLOWED_HOSTS),
    containerDiskMb: env.LAB_CONTAINER_DISK_MB ?? '2048',
    diskCheckSeconds: env.LAB_DISK_CHECK_SECONDS ?? '5',
    runcPolicy: env.LAB_RUNC_POLICY ?? 'auto',
    diskPolicy: env.LAB_DISK_POLICY ?? 'auto',
    sessionsPerClientPerMinute: env.LAB_SESSIONS_PER_CLIENT_PER_MINUTE ?? '10',
    sessionsPerClient: env.LAB_SESSIONS_PER_CLIENT || 'auto',
    trustProxy: splitList(env.LAB_TRUST_PROXY),
    hostFirewall: parseSwitch(env.LAB_HOST_FIREWALL, true),
    subnetPool: env.LAB_SUBNET_POOL ?? '10.213.0.0/16',
    subnetPrefix: env.LAB_SUBNET_PREFIX ?? '27',
    dockerSocketDir: env.LAB_DOCKER_SOCKET_DIR ?? '.ddev-lab/docker',
    dockerContainers: env.LAB_DOCKER_CONTAINERS ?? '5',
    dockerMemoryMb: env.LAB_DOCKER_MEMORY_MB ?? '1024',
    dockerBuilds: env.LAB_DOCKER_BUILDS ?? '20',
    pool: splitList(env.LAB_POOL).map(splitPoolEntry),
    poolIdleMinutes: env.LAB_POOL_IDLE_MINUTES ?? '30',
    poolStarts: env.LAB_POOL_STARTS ?? '2',
    sessionsPerLearner: env.LAB_SESSIONS_PER_LEARNER ?? '2',
    instructorToken: env.LAB_INSTRUCTOR_TOKEN || undefined,
  };

  const result = schema.safeParse(raw);
  if (!result.success) {
    // One line per setting: a value can break several rules, and the first is enough to act on.
    const seen = new Set<PropertyKey>();
    const firstIssues = result.error.issues.filter(
      (issue) => !seen.has(issue.path[0]!) && seen.add(issue.path[0]!),
    );
    throw new ConfigError(firstIssues.map((issue) => describeIssue(issue, raw)));
  }

  const { sessionsPerClient, ...rest } = result.data;
  return Object.freeze({
    ...rest,
    sessionsPerClient: sessionsPerClientFor(sessionsPerClient, rest.host, rest.trustProxy),
  });
}

/**
 * Resolves the per-address cap that "auto" means. On loopback without a trusted proxy, the one
 * learner is the person at this machine, or every client of an unconfigured reverse proxy
 * shares one address, so there is no cap. A public host or a trusted proxy gets a few each.
 */
function sessionsPerClientFor(value: number | 'auto', host: string, trustProxy: string[]): number {
  if (value !== 'auto') return value;
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  return loopback && trustProxy.length === 0 ? 0 : PUBLIC_SESSIONS_PER_CLIENT;
}

/** Checks an entry for Express's "trust proxy" setting: an address, a CIDR range or a named range. */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address = '', bits, ...more] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || more.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        instance: { type: 'string' },
        'log-level': { type: 'string' },
        'no-build-images': { type: 'boolean' },
        'no-build-site': { type: 'boolean' },
      },
      strict: true,
    });
  } catch (error) {
    const allowed = Object.values(SOURCES)
      .flatMap((source) => (source.flag ? [`--${source.flag}`] : []))
      .join(', ');
    throw new ConfigError([`${(error as Error).message}. Allowed flags: ${allowed}.`]);
  }
}

function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string {
  const field = String(issue.path[0]) as keyof typeof SOURCES;
  const source = SOURCES[field];
  const name = source.flag ? `${source.env} (or --${source.flag})` : source.env;
  // A secret that is nearly right is still a secret: never echo it.
  const shown = field === 'instructorToken' ? '(hidden)' : JSON.stringify(raw[field]);
  return `${name}=${shown}: ${issue.message}. Set it to the ${source.help}.`;
}

/** Reads LAB_LOG_FORMAT. While it is unset or auto, LAB_PRETTY_LOGS, the older 0 or 1 setting, still applies. */
function logFormatFrom(env: NodeJS.ProcessEnv): string {
  const format = env.LAB_LOG_FORMAT || 'auto';
  if (format !== 'auto') return format;
  if (env.LAB_PRETTY_LOGS) return parseSwitch(env.LAB_PRETTY_LOGS, false) ? 'text' : 'json';
  return process.stdout.isTTY === true ? 'text' : 'json';
}

function parseSwitch(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  return !['0', 'false', 'no', 'off'].includes(value.toLowerCase());
}

/** Splits `lab-id:count`; a malformed entry keeps its parts for the schema to reject. */
function splitPoolEntry(entry: string): { labId: string; size: string } {
  const [labId = '', size = ''] = entry.split(':');
  return { labId: labId.trim(), size: size.trim() };
}

function splitList(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
