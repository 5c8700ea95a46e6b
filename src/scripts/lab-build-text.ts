// Text of the build panel that comes from the builder: output lines with terminal colour codes
// and the image history entries that name the step that made each layer. Both are only ever
// shown as text.

/** A piece of an output line, and whether the program wrote it in red. */
export interface OutputRun {
  text: string;
  red: boolean;
}

// CSI sequences (colours, cursor moves), OSC sequences (window titles), character set choices
// and other two-byte escapes, as ECMA-48 shapes them.
const ESCAPES =
  /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[()*+#%].|\x1b[@-_]?/g;
// Control characters other than tab, which a terminal would act on and a page shows as boxes.
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;

/**
 * Splits a line of builder output at its escape sequences. Red text (SGR 31 or 91, which the
 * classic builder and many tools use for errors) is marked; every other sequence is dropped.
 * `red` is true when an earlier line left red on, and the returned `red` is the state after this line.
 */
export function parseAnsi(line: string, red: boolean): { runs: OutputRun[]; red: boolean } {
  const runs: OutputRun[] = [];
  let last = 0;

  const push = (text: string) => {
    const clean = text.replace(CONTROLS, '');
    if (clean) runs.push({ text: clean, red });
  };

  for (const match of line.matchAll(ESCAPES)) {
    push(line.slice(last, match.index));
    last = match.index + match[0].length;
    if (match[2] === 'm') red = redAfter(match[1] ?? '', red);
  }
  push(line.slice(last));
  return { runs, red };
}

/** Applies an SGR sequence's parameters to the red state: 31 and 91 set it, a reset or another colour ends it. */
function redAfter(parameters: string, red: boolean): boolean {
  for (const code of parameters === '' ? [0] : parameters.split(';').map(Number)) {
    if (code === 31 || code === 91) red = true;
    else if (code === 0 || code === 39 || (code >= 30 && code <= 37) || (code >= 90 && code <= 97))
      red = false;
  }
  return red;
}

/**
 * Describes the step that made a layer as its Dockerfile line would read. The classic builder records a
 * metadata step as `/bin/sh -c #(nop) ` plus the instruction, a HEALTHCHECK as a Go struct, and a
 * RUN as its shell and command, after `|<count> NAME=value ...` when build arguments were in use.
 * An empty entry is a layer of the base image that was imported, not built by a step.
 */
export function describeLayer(createdBy: string): string {
  const withoutArgs = createdBy.trim().replace(/^\|\d+(?:\s+[A-Za-z_][A-Za-z0-9_]*=\S*)*\s+/, '');
  const text = withoutArgs.replace(/^\/bin\/(?:ba)?sh -c #\(nop\)\s+/, '');
  if (text === '')
    return "the base image's files: a layer imported, not built by a Dockerfile step";
  const run = /^\/bin\/(?:ba)?sh -c (.*)$/s.exec(text);
  if (run) return `RUN ${run[1]!.trim()}`;
  return healthcheckInstruction(text) ?? text;
}

const GO_HEALTHCHECK = /^HEALTHCHECK &\{\[(.*)\]((?: "[^"]*")+) '(.+)'\}$/;
const GO_STRING = /"((?:[^"\\]|\\.)*)"/g;
const RUNE_ESCAPES: Record<string, number> = {
  a: 7,
  b: 8,
  t: 9,
  n: 10,
  v: 11,
  f: 12,
  r: 13,
  "'": 39,
  '\\': 92,
};

/**
 * Turns `HEALTHCHECK &{["CMD" "/healthcheck.sh"] "5s" "5s" "30s" '\x03'}` (the test, then the
 * interval, timeout, start period and, from Docker Engine 25.0, start interval, then the retries) into
 * `HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 CMD ["/healthcheck.sh"]`.
 * Returns undefined for any other text.
 */
function healthcheckInstruction(text: string): string | undefined {
  const match = GO_HEALTHCHECK.exec(text);
  if (!match) return undefined;

  const test = [...match[1]!.matchAll(GO_STRING)].map((part) => goString(part[1]!));
  const [interval, timeout, startPeriod, startInterval] = [...match[2]!.matchAll(GO_STRING)].map(
    (part) => part[1]!,
  );
  const retries = goRune(match[3]!);
  if (test[0] === 'NONE') return 'HEALTHCHECK NONE';

  const options = [
    ['interval', interval],
    ['timeout', timeout],
    ['start-period', startPeriod],
    ['start-interval', startInterval],
  ]
    .filter(([, value]) => value !== undefined && value !== '0s')
    .map(([name, value]) => `--${name}=${value}`);
  if (retries) options.push(`--retries=${retries}`);

  const args = test.slice(1);
  const command =
    test[0] === 'CMD-SHELL'
      ? `CMD ${args.join(' ')}`
      : `CMD [${args.map((arg) => JSON.stringify(arg)).join(', ')}]`;
  return ['HEALTHCHECK', ...options, command].join(' ');
}

/** Reads the inside of a Go %q string. Escapes that JSON lacks stay as written. */
function goString(inner: string): string {
  try {
    return JSON.parse(`"${inner}"`) as string;
  } catch {
    return inner;
  }
}

/** Reads a Go %q rune such as '\x03' or '5' as its number, or 0 when it cannot. */
function goRune(inner: string): number {
  const hex = /^\\[xuU]([0-9a-fA-F]+)$/.exec(inner);
  if (hex) return parseInt(hex[1]!, 16);
  if (inner.startsWith('\\')) return RUNE_ESCAPES[inner.slice(1)] ?? 0;
  return inner.codePointAt(0) ?? 0;
}
