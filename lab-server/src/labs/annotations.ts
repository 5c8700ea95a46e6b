// Killercoda's command annotations in step Markdown, so that its scenarios port unchanged: a code
// block or inline code followed by {{exec}} gets a Run button, by {{copy}} a Copy button.
//
//   ```
//   ps aux
//   ```{{exec}}              run in the first terminal
//   `top`{{exec T2}}         run in the second terminal (or the terminal whose id is T2)
//   `ls`{{exec interrupt}}   press Ctrl-C in the terminal first
//   `cat x`{{copy}}          copy only
// Katacoda's older spelling {{execute}} is accepted too.

export interface AnnotatedCommand {
  run: string;
  /** `exec` gets a Run and a Copy button, `copy` a Copy button only. */
  action: 'exec' | 'copy';
  /** The terminal as written after `exec` (`T2` or an id), or undefined for the first terminal. */
  terminal?: string;
  interrupt: boolean;
  /** True for inline code within a sentence, false for a code block. */
  inline: boolean;
}

export type BodyPart =
  { kind: 'markdown'; text: string } | { kind: 'command'; command: AnnotatedCommand };

const FENCE_OPEN = /^(`{3,}|~{3,})/;
const ANNOTATION = /^\{\{(exec|execute|copy)([^}\n]*)\}\}[ \t]*$/;
const INLINE = /`([^`\n]+)`\{\{(exec|execute|copy)([^}\n]*)\}\}/g;

/** Splits step Markdown into plain Markdown and annotated commands, in order. */
export function splitAnnotations(markdown: string): BodyPart[] {
  const lines = markdown.split('\n');
  const parts: BodyPart[] = [];
  let plain: string[] = [];
  let index = 0;

  while (index < lines.length) {
    const fence = FENCE_OPEN.exec(lines[index]!)?.[1];
    const close = fence === undefined ? -1 : findClosingFence(lines, index + 1, fence);
    if (fence === undefined || close === -1) {
      plain.push(lines[index]!);
      index += 1;
      continue;
    }

    const annotation = ANNOTATION.exec(lines[close]!.slice(fence.length));
    if (annotation) {
      pushInline(parts, plain.join('\n'));
      plain = [];
      const run = lines.slice(index + 1, close).join('\n');
      parts.push({
        kind: 'command',
        command: parseAnnotation(run, annotation[1]!, annotation[2]!, false),
      });
    } else {
      // A plain code block stays Markdown, and inline annotations inside it stay text.
      pushInline(parts, plain.join('\n'));
      plain = [];
      parts.push({ kind: 'markdown', text: lines.slice(index, close + 1).join('\n') });
    }
    index = close + 1;
  }

  pushInline(parts, plain.join('\n'));
  return parts.filter((part) => part.kind === 'command' || part.text.trim() !== '');
}

/** Returns the line index of the fence that closes a block opened with `fence`, or -1. */
function findClosingFence(lines: string[], from: number, fence: string): number {
  for (let index = from; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (!line.startsWith(fence)) continue;

    const rest = line.slice(fence.length);
    if (/^[`~]*[ \t]*$/.test(rest) || ANNOTATION.test(rest)) return index;
  }
  return -1;
}

function pushInline(parts: BodyPart[], text: string): void {
  let position = 0;

  for (const match of text.matchAll(INLINE)) {
    parts.push({ kind: 'markdown', text: text.slice(position, match.index) });
    parts.push({
      kind: 'command',
      command: parseAnnotation(match[1]!, match[2]!, match[3]!, true),
    });
    position = match.index + match[0].length;
  }
  parts.push({ kind: 'markdown', text: text.slice(position) });
}

function parseAnnotation(
  run: string,
  keyword: string,
  options: string,
  inline: boolean,
): AnnotatedCommand {
  const words = options.trim().split(/\s+/).filter(Boolean);
  const action = keyword === 'copy' ? 'copy' : 'exec';
  const interrupt = words.includes('interrupt');
  const terminal = words.find((word) => word !== 'interrupt');

  return { run, action, terminal, interrupt, inline };
}

/** Lists the annotated commands of a step body, for validation. */
export function annotatedCommands(markdown: string): AnnotatedCommand[] {
  return splitAnnotations(markdown).flatMap((part) =>
    part.kind === 'command' ? [part.command] : [],
  );
}

/**
 * Resolves an annotation's terminal to a terminal id: an id used by the lab as written, else
 * Killercoda's `T<n>` as the nth terminal (T1 is the first). Returns undefined when neither fits.
 */
export function resolveTerminal(
  written: string | undefined,
  terminalIds: readonly string[],
): string | undefined {
  if (written === undefined) return terminalIds[0];
  if (terminalIds.includes(written)) return written;

  const numbered = /^T([1-9][0-9]?)$/.exec(written);
  if (!numbered) return undefined;
  return terminalIds[Number(numbered[1]) - 1];
}
