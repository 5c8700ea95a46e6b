// Keystroke echo and output throughput through the terminal bridge, the engine's own TTY
// throughput for comparison, and the memory of an idle sandbox.
import { readFileSync } from 'node:fs';

import { listManaged, docker } from '../helpers/docker.ts';
import type { RunningServer } from '../helpers/lab-server.ts';
import { percentile } from './figures.ts';
import type { OpenLab } from './measure-start.ts';

/** A shell command that writes `bytes` bytes of 100-byte lines: `yes` is far faster than the TTY. */
export function floodCommand(bytes: number): string {
  return `yes "$(printf '%099d' 0)" | head -c ${bytes}`;
}

/** Types one letter at a time and times each until its echo arrives; returns p50 and p95. */
export async function measureEcho(
  open: OpenLab,
  keystrokes: number,
): Promise<{ p50: number; p95: number }> {
  const { terminal } = open;
  const samples: number[] = [];

  for (let keystroke = 0; keystroke < keystrokes; keystroke += 1) {
    const character = String.fromCharCode(97 + (keystroke % 26));
    terminal.clearTail();
    const sent = performance.now();
    terminal.type(character);
    const echoed = await terminal.waitFor(new RegExp(character), 5000);
    samples.push(echoed - sent);
    // Ctrl-U clears the line now and then, so the line editor never redraws a long line.
    if (keystroke % 20 === 19) terminal.type('\x15');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { p50: percentile(samples, 50), p95: percentile(samples, 95) };
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** Floods the terminal with `megabytes` and returns MB/s at the client and the server's RSS growth. */
export async function measureThroughput(server: RunningServer, open: OpenLab, megabytes: number) {
  const { terminal } = open;
  const pid = server.process.pid!;
  const before = rssMb(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 100);

  const startBytes = terminal.bytes;
  const started = performance.now();
  // The marker is computed by the shell, so the echoed command line never matches it.
  terminal.type(`${floodCommand(megabytes * 1_000_000)}; echo; echo bench-$((6*7))-done\r`);
  await terminal.waitFor(/bench-42-done/, 600_000);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);

  return {
    megabytesPerSecond: (terminal.bytes - startBytes) / 1e6 / seconds,
    memoryGrowthMb: peak - before,
  };
}

/**
 * The same flood read straight from a `docker exec` with a TTY, without the bridge: the most any
 * terminal of this engine can carry.
 */
export async function measureEngineTty(containerId: string, megabytes: number): Promise<number> {
  const exec = await docker.getContainer(containerId).exec({
    Cmd: ['sh', '-c', floodCommand(megabytes * 1_000_000)],
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
  });
  const started = performance.now();
  const stream = await exec.start({ hijack: true, stdin: false, Tty: true });
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
  await new Promise((resolve) => stream.once('end', resolve));
  return bytes / 1e6 / ((performance.now() - started) / 1000);
}

/** Memory the sandbox's containers use, page cache left out, as `docker stats` counts it. */
export async function sandboxMemoryMb(instance: string, sessionId: string): Promise<number> {
  const { containers } = await listManaged(instance, sessionId);
  let total = 0;
  for (const info of containers) {
    const stats = await docker.getContainer(info.Id).stats({ stream: false });
    // cgroup v1 names it total_inactive_file, v2 inactive_file; the docker CLI subtracts it too.
    const memory = stats.memory_stats.stats as
      { total_inactive_file?: number; inactive_file?: number } | undefined;
    total +=
      (stats.memory_stats.usage ?? 0) - (memory?.total_inactive_file ?? memory?.inactive_file ?? 0);
  }
  return total / 2 ** 20;
}
