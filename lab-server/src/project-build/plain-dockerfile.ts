// A Dockerfile a learner wrote must be plain enough that our reading of it is the builder's.
// The checks that keep builds to allowed images and away from the network parse Dockerfiles
// themselves. A byte that the builder reads differently (a form feed after a line-continuing
// backslash, a byte-order mark, an escape directive) would let a line through unread.
import { LabError } from '../errors.ts';

// Control characters other than tab and newline, the byte-order mark, and every Unicode space
// that JavaScript's \s matches but the builder's line splitting does not.
const UNUSUAL =
  /[\u0000-\u0008\u000b-\u001f\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/u;
const DIRECTIVE = /^\s*#\s*(escape|syntax|check)\s*=/im;

export class UnplainDockerfileError extends LabError {
  constructor(source: string, detail: string) {
    super(
      'DockerfileNotPlain',
      400,
      `${source} ${detail}. Write the file with plain text: spaces, tabs and newlines only.`,
    );
  }
}

/**
 * Throws UnplainDockerfileError when the text contains a character the checks could misread or a
 * parser directive, or ends inside a continued instruction, which would swallow whatever the
 * server appends after it.
 */
export function assertPlainDockerfile(text: string, source: string): void {
  const unusual = UNUSUAL.exec(text);
  if (unusual) {
    const line = text.slice(0, unusual.index).split('\n').length;
    const code = unusual[0].codePointAt(0)!.toString(16).padStart(4, '0');
    throw new UnplainDockerfileError(source, `has the character U+${code} on line ${line}`);
  }

  const directive = DIRECTIVE.exec(text);
  if (directive)
    throw new UnplainDockerfileError(
      source,
      `sets the parser directive "${directive[1]}", which is not allowed here`,
    );

  const lastInstruction = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .at(-1);
  if (lastInstruction?.endsWith('\\')) {
    throw new UnplainDockerfileError(
      source,
      'ends with a backslash that continues its last instruction onto nothing',
    );
  }
}

/** Returns the first ADD source that the builder would fetch or that a variable could make remote. */
export function remoteAddSource(args: string): string | undefined {
  const sources = args.split(/[\s",[\]]+/).filter((word) => word && !word.startsWith('--'));
  return sources.find(
    (word) =>
      /^[a-z][a-z0-9+.-]*:\/\//i.test(word) || word.startsWith('git@') || word.includes('$'),
  );
}
