// The classic builder's ways of writing a step into an image's history: Go's %q for lists,
// Go's durations, and the `&{...}` of a health check.

/** Writes a list as Go's %q does: `["a" "b"]`. */
export function quoteList(items: readonly string[]): string {
  return `[${items.map((item) => JSON.stringify(item)).join(' ')}]`;
}

/** Writes nanoseconds as Go's time.Duration does: 0s, 500ms, 30s, 1m30s, 1h0m0s. */
export function goDuration(nanoseconds: number): string {
  if (nanoseconds === 0) return '0s';
  if (nanoseconds < 1e3) return `${nanoseconds}ns`;
  if (nanoseconds < 1e6) return `${trim(nanoseconds / 1e3)}µs`;
  if (nanoseconds < 1e9) return `${trim(nanoseconds / 1e6)}ms`;

  const totalSeconds = nanoseconds / 1e9;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = trim(totalSeconds - hours * 3600 - minutes * 60);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

function trim(value: number): string {
  return String(Number(value.toFixed(9)));
}

/** Reads a Go duration such as 30s, 1m30s or 500ms into nanoseconds. */
export function parseGoDuration(text: string): number | undefined {
  const units: Record<string, number> = {
    ns: 1,
    us: 1e3,
    µs: 1e3,
    ms: 1e6,
    s: 1e9,
    m: 60e9,
    h: 3600e9,
  };
  if (text === '0') return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) return undefined;
  return Math.round(parts.reduce((sum, part) => sum + Number(part[1]) * units[part[2]!]!, 0));
}

/** Writes a small number as Go's %q writes a rune: '\x03', 'a'. */
export function quoteRune(value: number): string {
  const named: Record<number, string> = {
    7: '\\a',
    8: '\\b',
    9: '\\t',
    10: '\\n',
    11: '\\v',
    12: '\\f',
    13: '\\r',
    39: "\\'",
    92: '\\\\',
  };
  if (named[value]) return `'${named[value]}'`;
  if (value >= 32 && value < 127) return `'${String.fromCharCode(value)}'`;
  if (value < 256) return `'\\x${value.toString(16).padStart(2, '0')}'`;
  return `'${String.fromCodePoint(value)}'`;
}

export interface HealthcheckConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

/** Writes the history text of a HEALTHCHECK, as the classic builder does with %q. */
export function healthcheckText(check: HealthcheckConfig): string {
  const durations = [check.Interval, check.Timeout, check.StartPeriod].map((value) =>
    JSON.stringify(goDuration(value ?? 0)),
  );
  return `HEALTHCHECK &{${quoteList(check.Test ?? [])} ${durations.join(' ')} ${quoteRune(check.Retries ?? 0)}}`;
}
