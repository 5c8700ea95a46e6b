// Build arguments: the ARG lines before the first FROM, each stage's own ARG lines, and which of
// the passed --build-arg values a line consumed.
import { BuildFailure } from './messages.ts';
import { expandWord, splitPairs, type Variables } from './words.ts';

/** Build arguments the classic builder accepts without an ARG line; none is recorded in history. */
export const BUILTIN_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
]);

/** Declared build arguments by name, with their default values. */
export type DeclaredArgs = Map<string, string | undefined>;

export class BuildArgs {
  private readonly passed: Record<string, string>;
  private readonly globals: DeclaredArgs = new Map();
  private readonly used = new Set<string>();

  constructor(passed: Record<string, string>) {
    this.passed = passed;
  }

  /** Declares the build arguments of an ARG line before the first FROM. */
  declareGlobal(args: string): void {
    for (const { key, value } of splitPairs(args)) {
      const name = expandWord(key, {});
      const fallback = value === undefined ? undefined : expandWord(value, this.globalValues());
      this.globals.set(name, fallback);
      this.markUsed(name);
    }
  }

  /**
   * Declares the build arguments of an ARG line in a stage; returns the line's history text. A
   * name without a default takes the global default of the same name.
   */
  declareInStage(
    args: string,
    declared: DeclaredArgs,
    variables: Variables,
    original: string,
  ): string {
    const parts: string[] = [];
    for (const { key, value } of splitPairs(args)) {
      const name = expandWord(key, variables);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new BuildFailure(`ARG names must be letters, digits and underscores: ${original}`);
      const fallback =
        value === undefined ? this.globalValues()[name] : expandWord(value, variables);
      declared.set(name, fallback);
      this.markUsed(name);
      parts.push(value === undefined ? name : `${name}=${fallback}`);
    }
    return `ARG ${parts.join(' ')}`;
  }

  /** Returns the values of declared build arguments: passed ones first, then defaults. */
  values(declared: DeclaredArgs): Record<string, string> {
    const values: Record<string, string> = {};
    for (const [name, fallback] of declared) {
      const value = this.passed[name] ?? fallback;
      if (value !== undefined) values[name] = value;
    }
    return values;
  }

  globalValues(): Record<string, string> {
    return this.values(this.globals);
  }

  /** Returns the passed build arguments that no ARG line declared, sorted, built-in ones left out. */
  unused(): string[] {
    return Object.keys(this.passed)
      .filter((name) => !this.used.has(name) && !BUILTIN_ARGS.has(name))
      .sort();
  }

  private markUsed(name: string): void {
    if (this.passed[name] !== undefined) this.used.add(name);
  }
}
