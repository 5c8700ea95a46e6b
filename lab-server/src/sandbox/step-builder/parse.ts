// Reads a Dockerfile the way the classic builder's parser does, so that step numbers, the
// `Step N/M : ...` text and the shell-form commands are the builder's own: comment lines are
// dropped (also inside a continued instruction), a line that ends with a backslash continues
// on the next one with the backslash removed and nothing added, and the first line of an
// instruction loses its leading blanks. The callers' checks have already refused parser
// directives and characters this reading could take differently, and they read the Dockerfile
// with this parser too, so what they check is what the builder runs.

export interface Instruction {
  /** The keyword in upper case, for example RUN. */
  keyword: string;
  /** `--name=value` flags written before the arguments, by lower-case name; each at most once. */
  flags: Record<string, string>;
  /** The arguments after the keyword and the flags, trimmed. */
  args: string;
  /** The instruction as the classic builder prints it after `Step N/M : `. */
  original: string;
  /** Line of the keyword, counted from 1. */
  line: number;
}

export class DockerfileSyntaxError extends Error {
  /** Line of the instruction's keyword, counted from 1. */
  readonly line: number;
  constructor(message: string, line: number) {
    super(message);
    this.line = line;
  }
}

const CONTINUATION = /\\[ \t]*$/;

/** Splits the text into instructions. */
export function parseDockerfile(text: string): Instruction[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const instructions: Instruction[] = [];

  for (let index = 0; index < lines.length; index += 1) {
    const first = lines[index]!.trimStart();
    if (first === '' || first.startsWith('#')) continue;

    const line = index + 1;
    let joined = first;
    let continued = CONTINUATION.test(joined);
    while (continued && index + 1 < lines.length) {
      joined = joined.replace(CONTINUATION, '');
      index += 1;
      const next = lines[index]!;
      // Comment lines and blank lines inside a continued instruction are skipped.
      if (next.trimStart().startsWith('#') || next.trim() === '') continue;
      joined += next;
      continued = CONTINUATION.test(joined);
    }
    if (continued) joined = joined.replace(CONTINUATION, '');
    instructions.push(toInstruction(joined, line));
  }
  return instructions;
}

function toInstruction(joined: string, line: number): Instruction {
  const original = joined.trim();
  const match = /^(\S+)\s*(.*)$/s.exec(original);
  const keyword = (match?.[1] ?? '').toUpperCase();
  let rest = match?.[2] ?? '';

  const flags: Record<string, string> = {};
  for (;;) {
    const flag = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
    if (!flag) break;
    const name = flag[1]!.toLowerCase();
    // A second value would have to win over the first, and a check that reads the first would
    // then pass what the builder does not run: the classic builder refuses it too.
    if (Object.hasOwn(flags, name))
      throw new DockerfileSyntaxError(
        `line ${line}: the flag --${name} is given more than once in "${original}"; give it once`,
        line,
      );
    flags[name] = flag[2] ?? '';
    rest = rest.slice(flag[0].length);
  }
  return { keyword, flags, args: rest.trim(), original, line };
}

/** Returns the arguments as a list when they are written as a JSON array of strings (exec form). */
export function jsonArray(args: string): string[] | undefined {
  const trimmed = args.trim();
  if (!trimmed.startsWith('[')) return undefined;
  try {
    const value = JSON.parse(trimmed) as unknown;
    if (Array.isArray(value) && value.every((item) => typeof item === 'string'))
      return value as string[];
  } catch {
    // Not JSON: the builder treats it as shell form.
  }
  return undefined;
}
