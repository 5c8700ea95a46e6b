// The bench's figures: each with its unit and, where a target applies, the target and whether
// this run met it. Printed as a table and written as JSON, with the machine they came from.
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';

export interface Target {
  /** `max`: the value may be at most `limit`; `min`: at least. */
  kind: 'max' | 'min';
  limit: number;
}

export interface Figure {
  id: string;
  name: string;
  value: number | string;
  unit: string;
  target?: Target;
  met?: boolean;
  note?: string;
  /** One-minute load average when the figure was recorded: a busy host makes every figure worse. */
  load: number;
}

export interface Machine {
  cpus: string;
  memoryGiB: number;
  node: string;
  docker: string;
  date: string;
  quick: boolean;
  /** One-minute load average when the bench started and when it ended. */
  loadAtStart: number;
  loadAtEnd?: number;
}

export const figures: Figure[] = [];

/** Records a figure and prints it as it comes. */
export function record(
  id: string,
  name: string,
  value: number | string,
  unit: string,
  options: { target?: Target; note?: string } = {},
): void {
  const rounded = typeof value === 'number' ? Math.round(value * 100) / 100 : value;
  const met =
    options.target && typeof value === 'number' ? meets(value, options.target) : undefined;
  const load = Math.round(loadavg()[0]! * 10) / 10;
  figures.push({
    id,
    name,
    value: rounded,
    unit,
    target: options.target,
    met,
    note: options.note,
    load,
  });
  process.stdout.write(
    `  ${name}: ${rounded} ${unit}${met === undefined ? '' : met ? '  (target met)' : '  (target missed)'}\n`,
  );
}

function meets(value: number, target: Target): boolean {
  return target.kind === 'max' ? value <= target.limit : value >= target.limit;
}

export function describeTarget(target: Target | undefined, unit: string): string {
  if (!target) return '';
  return `${target.kind === 'max' ? '≤' : '≥'} ${target.limit} ${unit}`;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function describeMachine(quick: boolean): Machine {
  return {
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    docker: execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], {
      encoding: 'utf8',
    }).trim(),
    date: new Date().toISOString(),
    quick,
    loadAtStart: Math.round(loadavg()[0]! * 100) / 100,
  };
}

/** Prints the table and writes it as JSON to each file given. */
export async function report(machine: Machine, files: string[], root: string): Promise<void> {
  machine.loadAtEnd = Math.round(loadavg()[0]! * 100) / 100;
  const width = Math.max(...figures.map((figure) => figure.name.length));
  const rows = figures.map((figure) => {
    const value = `${figure.value} ${figure.unit}`.trim();
    const verdict = figure.met === undefined ? '' : figure.met ? 'met' : 'MISSED';
    return `${figure.name.padEnd(width)}  ${value.padEnd(16)} ${describeTarget(figure.target, figure.unit).padEnd(14)} ${verdict.padEnd(7)} ${figure.load}`;
  });
  process.stdout.write(
    `\n${'figure'.padEnd(width)}  ${'value'.padEnd(16)} ${'target'.padEnd(14)} verdict load\n${rows.join('\n')}\n`,
  );
  process.stdout.write(
    `\n${machine.cpus}, ${machine.memoryGiB} GiB, Docker ${machine.docker}, load ${machine.loadAtStart} at start, ${machine.loadAtEnd} at end.\n`,
  );

  for (const file of files) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify({ machine, figures }, null, 2) + '\n');
    process.stdout.write(`Wrote ${path.relative(root, file)}.\n`);
  }
}
