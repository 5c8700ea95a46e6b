// `npm run bench`: measures time to a prompt, keystroke echo, output throughput, sandbox memory,
// capacity and page weight on this machine, prints a table and writes bench-results/latest.json.
// Flags: --quick (fewer samples, for a smoke run), --max-sandboxes N (capacity search cap).
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';

import { ensureImages } from '../../lab-server/src/images/build.ts';
import { removeInstance, docker, listManaged } from '../helpers/docker.ts';
import { ROOT, startLabServer, uniqueInstance, type RunningServer } from '../helpers/lab-server.ts';
import { BenchTerminal, type BenchSession } from './bench-client.ts';
import { measurePageScripts } from './page-weight.ts';

const { values: flags } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, 'max-sandboxes': { type: 'string', default: '80' } },
});
const QUICK = flags.quick;
const MAX_SANDBOXES = Number(flags['max-sandboxes']);
const WEB_LAB = 'inside-the-web-container';
const WEB_DB_LAB = 'bench-web-db';
const PROMPT = /\$ $/;

interface Figure {
  name: string;
  value: number | string;
  unit: string;
  target?: string;
}

const figures: Figure[] = [];
const record = (name: string, value: number | string, unit: string, target?: string) => {
  figures.push({ name, value: typeof value === 'number' ? Math.round(value * 100) / 100 : value, unit, target });
  process.stdout.write(`  ${name}: ${typeof value === 'number' ? value.toFixed(2) : value} ${unit}\n`);
};

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

async function startSession(server: RunningServer, labId: string): Promise<BenchSession> {
  const response = await fetch(`${server.url}/api/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ labId }),
  });
  if (response.status !== 201) throw new Error(`starting ${labId} failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as BenchSession;
}

async function stopSession(server: RunningServer, session: BenchSession): Promise<void> {
  await fetch(`${server.url}/api/sessions/${session.sessionId}`, { method: 'DELETE', headers: { authorization: `Bearer ${session.token}` } });
}

/** Starts a lab and returns milliseconds from the start request to the first output byte. */
async function timeToPrompt(server: RunningServer, labId: string, terminalId: string) {
  const started = performance.now();
  const session = await startSession(server, labId);
  const terminal = await BenchTerminal.open(server.url, session, terminalId);
  await terminal.waitFor(PROMPT);
  return { ms: terminal.firstOutputAt! - started, session, terminal };
}

async function benchColdStart(server: RunningServer, labId: string, terminalId: string, label: string, target: string) {
  const samples: number[] = [];
  for (let run = 0; run < (QUICK ? 3 : 10); run += 1) {
    const { ms, session, terminal } = await timeToPrompt(server, labId, terminalId);
    samples.push(ms);
    terminal.close();
    await stopSession(server, session);
  }
  record(`${label} time to prompt p50`, percentile(samples, 50), 'ms', target);
  record(`${label} time to prompt p95`, percentile(samples, 95), 'ms');
}

async function benchRoom(server: RunningServer) {
  const learners = QUICK ? 10 : 30;
  const spreadMs = 10_000;
  const results = await Promise.all(
    Array.from({ length: learners }, async (_unused, index) => {
      await new Promise((resolve) => setTimeout(resolve, (index * spreadMs) / learners));
      return timeToPrompt(server, WEB_LAB, 'web');
    }),
  );
  const samples = results.map((result) => result.ms);
  record(`${learners} learners within 10 s, time to prompt p50`, percentile(samples, 50), 'ms');
  record(`${learners} learners within 10 s, time to prompt p95`, percentile(samples, 95), 'ms', '≤ 3000 ms');
  return results;
}

async function benchEcho(server: RunningServer, openSessions: number) {
  const { session, terminal } = await timeToPrompt(server, WEB_LAB, 'web');
  const samples: number[] = [];

  for (let keystroke = 0; keystroke < (QUICK ? 50 : 300); keystroke += 1) {
    const character = String.fromCharCode(97 + (keystroke % 26));
    terminal.clearTail();
    const sent = performance.now();
    terminal.type(character);
    const echoed = await terminal.waitFor(new RegExp(character), 5000);
    samples.push(echoed - sent);
    if (keystroke % 20 === 19) terminal.type('\x15');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }

  record(`keystroke echo p50 (${openSessions} idle sessions open)`, percentile(samples, 50), 'ms', '≤ 2 ms');
  record(`keystroke echo p95 (${openSessions} idle sessions open)`, percentile(samples, 95), 'ms', '≤ 5 ms');
  terminal.close();
  await stopSession(server, session);
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }))![1]) / 1024;
}

async function benchThroughput(server: RunningServer) {
  const { session, terminal } = await timeToPrompt(server, WEB_LAB, 'web');
  const pid = server.process.pid!;
  const megabytes = QUICK ? 200 : 1000;
  const before = rssMb(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 200);

  const startBytes = terminal.bytes;
  const started = performance.now();
  // The marker is computed by the shell, so the echoed command line never matches it.
  terminal.type(`head -c ${megabytes * 1_000_000} /dev/zero | tr '\\0' 'x' | fold -w 100; echo; echo bench-$((6*7))-done\r`);
  await terminal.waitFor(/bench-42-done/, 300_000);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);

  record('output throughput', (terminal.bytes - startBytes) / 1e6 / seconds, 'MB/s', '≥ 100 MB/s');
  record('server memory growth during throughput', peak - before, 'MB', '≤ 50 MB');
  terminal.close();
  await stopSession(server, session);
}

async function sandboxMemoryMb(instance: string, sessionId: string): Promise<number> {
  const { containers } = await listManaged(instance, sessionId);
  let total = 0;
  for (const info of containers) {
    const stats = await docker.getContainer(info.Id).stats({ stream: false });
    const cache = (stats.memory_stats.stats as { cache?: number } | undefined)?.cache ?? 0;
    total += (stats.memory_stats.usage ?? 0) - cache;
  }
  return total / 1024 / 1024;
}

async function benchCapacity(server: RunningServer) {
  const kept: { session: BenchSession; terminal: BenchTerminal }[] = [];
  let held = 0;
  let lastMs = 0;

  while (held < MAX_SANDBOXES) {
    const { ms, session, terminal } = await timeToPrompt(server, WEB_DB_LAB, 'web');
    kept.push({ session, terminal });
    lastMs = ms;
    if (ms > 2000) break;
    held += 1;
    if (held === 1) {
      await new Promise((resolve) => setTimeout(resolve, 15_000));
      record('idle web+db sandbox memory', await sandboxMemoryMb(server.instance, session.sessionId), 'MB');
    }
  }

  const note = held >= MAX_SANDBOXES ? `≥ ${held} (stopped at --max-sandboxes; last ${lastMs.toFixed(0)} ms)` : String(held);
  record('web+db sandboxes held with time to prompt ≤ 2 s', note, 'sandboxes');
  for (const { session, terminal } of kept) {
    terminal.close();
    await stopSession(server, session);
  }
}

async function writeBenchLabs(): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), 'ddev-lab-bench-labs-'));
  for (const name of await readdir(path.join(ROOT, 'content/labs'))) {
    await copyFile(path.join(ROOT, 'content/labs', name), path.join(folder, name));
  }

  const lab = {
    id: WEB_DB_LAB,
    title: 'Benchmark: web and db',
    summary: 'A web container and a MariaDB container, as a DDEV project has.',
    minutes: 10,
    services: { web: { image: 'webserver' }, db: { image: 'dbserver-mariadb' } },
    terminals: [{ id: 'web', title: 'web', service: 'web', user: 'ddev' }],
    steps: [{ id: 'ready', title: 'Ready', body: 'Nothing to do.', check: { service: 'web', run: 'true' }, hints: ['None.'], solution: 'true' }],
  };
  await writeFile(path.join(folder, `${WEB_DB_LAB}.yaml`), stringify(lab));
  return folder;
}

async function main(): Promise<void> {
  process.stdout.write('Preparing images and the site…\n');
  await ensureImages({ names: ['webserver', 'dbserver-mariadb'], onProgress: () => undefined });
  execFileSync(process.execPath, ['-e', "import('./lab-server/src/site.ts').then(m => m.ensureSite({ root: process.cwd(), siteDir: process.cwd() + '/dist', log: { info() {} } }))"], { cwd: ROOT, stdio: 'inherit' });

  const labsDir = await writeBenchLabs();
  const instance = uniqueInstance('bench');
  const server = await startLabServer({
    instance,
    env: { LAB_LABS_DIR: labsDir, LAB_MAX_SESSIONS: '400', LAB_SESSIONS_PER_CLIENT_PER_MINUTE: '100000', LAB_LOG_LEVEL: 'warn' },
  });

  try {
    process.stdout.write('\nMeasuring…\n');
    await benchColdStart(server, WEB_LAB, 'web', 'web lab, cold,', '');
    await benchColdStart(server, WEB_DB_LAB, 'web', 'web+db lab, cold, web terminal,', '≤ 1000 ms');
    record('warm pool time to prompt', 'not measured: the server has no pool of ready sandboxes yet', '');

    const room = await benchRoom(server);
    await benchEcho(server, room.length);
    for (const { session, terminal } of room) {
      terminal.close();
      await stopSession(server, session);
    }

    await benchThroughput(server);
    await benchCapacity(server);

    const pages = await measurePageScripts(server.url, [`/architecture/layers/`, `/labs/${WEB_LAB}/`]);
    for (const page of pages) record(`JavaScript loaded by ${page.path}${page.afterStart ? ' after Start' : ''}`, page.bytes / 1024, 'KiB');
  } finally {
    await server.kill('SIGTERM');
    await removeInstance(instance);
    await rm(labsDir, { recursive: true, force: true });
  }

  await report();
}

async function report(): Promise<void> {
  const machine = {
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    docker: execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' }).trim(),
    date: new Date().toISOString(),
    quick: QUICK,
  };

  const width = Math.max(...figures.map((figure) => figure.name.length));
  process.stdout.write(`\n${'figure'.padEnd(width)}  value          target\n`);
  for (const figure of figures) {
    const value = `${figure.value} ${figure.unit}`.trim();
    process.stdout.write(`${figure.name.padEnd(width)}  ${value.padEnd(14)} ${figure.target ?? ''}\n`);
  }

  const folder = path.join(ROOT, 'bench-results');
  await mkdir(folder, { recursive: true });
  await writeFile(path.join(folder, 'latest.json'), JSON.stringify({ machine, figures }, null, 2) + '\n');
  process.stdout.write(`\nWrote ${path.relative(ROOT, path.join(folder, 'latest.json'))} (${machine.cpus}, ${machine.memoryGiB} GiB).\n`);
}

await main();
