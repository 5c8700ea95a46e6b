// Turns a step's Markdown into HTML at build time, with Run and Copy buttons for the commands
// annotated Killercoda-style ({{exec}}, {{exec T2}}, {{exec interrupt}}, {{copy}}).
import {
  resolveTerminal,
  splitAnnotations,
  type AnnotatedCommand,
} from '../../../lab-server/src/labs/annotations.ts';
import type { LabTerminal } from '../../../lab-server/src/labs/schema.ts';

export interface CommandButton {
  run: string;
  /** Terminal id for a Run button, or undefined for a copy-only command. */
  terminal?: string;
  interrupt: boolean;
}

/** Renders step Markdown with its annotated commands as buttons, through the given renderer. */
export async function renderStepBody(
  markdown: string,
  terminals: readonly LabTerminal[],
  render: (markdown: string) => Promise<string>,
): Promise<string> {
  const ids = terminals.map((terminal) => terminal.id);
  const pieces = splitAnnotations(markdown).map((part) => {
    if (part.kind === 'markdown') return part.text;

    const button = toButton(part.command, ids);
    // A block command becomes one line of raw HTML between blank lines, so Markdown keeps it whole.
    return part.command.inline
      ? inlineCommandHtml(button, terminals)
      : `\n\n${commandHtml(button, terminals)}\n\n`;
  });
  return render(pieces.join(''));
}

function toButton(command: AnnotatedCommand, terminalIds: readonly string[]): CommandButton {
  const terminal =
    command.action === 'exec' ? resolveTerminal(command.terminal, terminalIds) : undefined;
  return { run: command.run, terminal, interrupt: command.interrupt };
}

/** Renders a code block with its Run (when it has a terminal) and Copy buttons as one line of HTML. */
export function commandHtml(command: CommandButton, terminals: readonly LabTerminal[]): string {
  return (
    // The command wraps (lab.css), so the block never scrolls and needs no tabindex.
    `<div class="lab-command"><pre><code>${escapeHtml(command.run)}</code></pre>` +
    `<div class="lab-command-actions">${buttonsHtml(command, terminals)}</div></div>`
  );
}

function inlineCommandHtml(command: CommandButton, terminals: readonly LabTerminal[]): string {
  return `<span class="lab-inline-command"><code>${escapeHtml(command.run)}</code>${buttonsHtml(command, terminals)}</span>`;
}

function buttonsHtml(command: CommandButton, terminals: readonly LabTerminal[]): string {
  const copy = `<button type="button" class="lab-copy" data-command="${escapeHtml(command.run)}">Copy</button>`;
  if (command.terminal === undefined) return copy;

  // Name the terminal on the button only when there is a choice of terminals.
  const title =
    terminals.find((terminal) => terminal.id === command.terminal)?.title ?? command.terminal;
  const label = terminals.length > 1 ? `Run in ${escapeHtml(title)}` : 'Run';
  const run =
    `<button type="button" class="lab-run" data-command="${escapeHtml(command.run)}" ` +
    `data-terminal="${escapeHtml(command.terminal)}" data-interrupt="${command.interrupt}" disabled>${label}</button>`;
  return run + copy;
}

/** Escapes text for HTML content and attributes; newlines become &#10; so the HTML stays one line. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
    .replaceAll('\n', '&#10;');
}
