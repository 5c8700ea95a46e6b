// Structured logs with pino: JSON lines for machines (tests and log collectors parse them), and
// one readable line per entry on a terminal. Context goes in fields.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export type LogFormat = 'text' | 'json';

export function createLogger(options: { level: string; format: LogFormat }): Logger {
  // Synchronous, so that the last line before process.exit() reaches a pipe too.
  if (options.format === 'json') {
    return pino({ level: options.level }, pino.destination({ dest: 1, sync: true }));
  }

  // pid and hostname are left out, because a console shows the output of one server.
  return pino({ level: options.level, base: undefined }, textDestination(process.stdout));
}

/**
 * Writes each entry synchronously, so the lines keep their order with what the server prints
 * itself and the last line before exit is not lost, as it can be with a worker-thread transport.
 */
export function textDestination(
  output: { write(text: string): unknown },
  colors = process.stdout.isTTY === true,
): DestinationStream {
  return { write: (line: string) => void output.write(formatEntry(line, colors)) };
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '90' },
  30: { name: 'INFO', color: '32' },
  40: { name: 'WARN', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '35' },
};
/** Fields shown first after the message, in this order. Others follow, except the hidden ones. */
const LEADING_FIELDS = ['sessionId', 'labId', 'terminalId', 'trainingId', 'url'];
const HIDDEN_FIELDS = new Set([
  'level',
  'time',
  'msg',
  'pid',
  'hostname',
  'err',
  'shellId',
  'learnerId',
]);
/** Maximum characters of one field value in a text line. The JSON format keeps longer values whole. */
const MAX_VALUE_CHARS = 120;

/** Turns one pino JSON line into `HH:MM:SS LEVEL message key=value …`, with the error's stack under it. */
export function formatEntry(line: string, colors = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }

  const level = LEVELS[Number(entry.level)] ?? { name: String(entry.level), color: '0' };
  const paint = (code: string, text: string) => (colors ? `\u001b[${code}m${text}\u001b[0m` : text);
  const time = new Date(Number(entry.time)).toTimeString().slice(0, 8);
  const fields = fieldsOf(entry).map(([key, value]) => paint('2', `${key}=${value}`));
  const head = [
    paint('2', time),
    paint(level.color, level.name.padEnd(5)),
    String(entry.msg ?? ''),
    ...fields,
  ].join(' ');

  const error = entry.err as { message?: string; stack?: string } | undefined;
  if (!error) return `${head}\n`;
  const detail = error.stack ?? error.message ?? JSON.stringify(error);
  return `${head}\n${indent(detail)}\n`;
}

function fieldsOf(entry: Record<string, unknown>): [string, string][] {
  const keys = Object.keys(entry).filter(
    (key) => !HIDDEN_FIELDS.has(key) && entry[key] !== undefined,
  );
  const leading = LEADING_FIELDS.filter((key) => keys.includes(key));
  const rest = keys.filter((key) => !LEADING_FIELDS.includes(key));
  return [...leading, ...rest].map((key) => [key, showValue(entry[key])]);
}

function showValue(value: unknown): string {
  const text =
    typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
