// Draws a Restart or a Dockerfile preview in the lab page's build panel. It shows the phases and
// the generated Dockerfile, split into the sections each file or DDEV step wrote. A Restart adds
// the builder's output and the new image's layers, or a failure with its step and source file.
import { listInstructions } from '../../lab-server/src/project-build/instructions.ts';
import { describeLayer, parseAnsi } from './lab-build-text.ts';
import { withInlineCode } from './lab-steps.ts';

export interface DockerfileSection {
  /** A file of .ddev/web-build, such as `web-build/pre.Dockerfile.x`, or the block ddev-lab wrote. */
  source: string;
  /** Line number of the section's first line in the whole Dockerfile, counted from 1. */
  firstLine: number;
  lines: string[];
}

export interface ImageLayer {
  createdBy: string;
  sizeBytes: number;
}

/** Output lines kept on the page; the server sends at most 2000 per Restart. */
const MAX_LOG_LINES = 2000;
const STEP_LINE = /^Step (\d+)\/(\d+) : /;

/**
 * Splits the generated Dockerfile at the `### <source>` comment line that the server writes above
 * each section. The lines before the first such line are the generated header.
 */
export function splitSections(text: string): DockerfileSection[] {
  const sections: DockerfileSection[] = [{ source: 'generated header', firstLine: 1, lines: [] }];

  text
    .replace(/\n$/, '')
    .split('\n')
    .forEach((line, index) => {
      if (line.startsWith('### ')) {
        sections.push({ source: line.slice(4).trim(), firstLine: index + 2, lines: [] });
        return;
      }
      sections.at(-1)!.lines.push(line);
    });

  for (const section of sections) {
    while (section.lines.at(-1) === '') section.lines.pop();
  }
  return sections;
}

/** Returns the section that a classic-builder step number (`Step 7/16`) belongs to. */
export function sectionOfStep(
  text: string,
  sections: readonly DockerfileSection[],
  step: number,
): DockerfileSection | undefined {
  const instruction = listInstructions(text)[step - 1];
  if (!instruction) return undefined;
  return sections.findLast((section) => section.firstLine <= instruction.line);
}

export class ProjectBuildView {
  private readonly panel: HTMLElement;
  private readonly state: HTMLElement;
  private readonly phases: HTMLOListElement;
  private readonly dockerfileBox: HTMLDetailsElement;
  private readonly logBox: HTMLDetailsElement;
  private readonly log: HTMLElement;
  private readonly layersBox: HTMLDetailsElement;
  private readonly extraNote: HTMLElement;
  private dockerfileText = '';
  private sections: DockerfileSection[] = [];
  /** Number of instructions in the Dockerfile shown. The builder also counts the lab server's LABEL steps. */
  private ownSteps = 0;
  private logLines = 0;
  /** Whether the output left red on at the end of the last line. */
  private red = false;

  constructor(root: HTMLElement) {
    this.panel = root.querySelector<HTMLElement>('.lab-build')!;
    this.state = root.querySelector<HTMLElement>('.lab-build-state')!;
    this.phases = this.panel.querySelector<HTMLOListElement>('.lab-build-phases')!;
    this.dockerfileBox = this.panel.querySelector<HTMLDetailsElement>('.lab-build-dockerfile')!;
    this.logBox = this.panel.querySelector<HTMLDetailsElement>('.lab-build-log')!;
    this.log = this.logBox.querySelector<HTMLElement>('code')!;
    this.layersBox = this.panel.querySelector<HTMLDetailsElement>('.lab-build-layers')!;
    this.extraNote = this.logBox.querySelector<HTMLElement>('.lab-build-extra')!;
  }

  /** `running`, `done` or `failed`: how the last Restart or preview ended, if it has. */
  get outcome(): string {
    return this.panel.dataset.outcome ?? '';
  }

  /** Empties the panel for a new Restart or preview and shows it. */
  begin(title: string): void {
    this.panel.hidden = false;
    this.panel.dataset.outcome = 'running';
    this.panel.querySelector('.lab-build-title')!.textContent = title;
    this.phases.replaceChildren();
    this.hideError();
    this.dockerfileBox.hidden = true;
    this.logBox.hidden = true;
    this.logBox.open = false;
    this.log.textContent = '';
    this.logLines = 0;
    this.red = false;
    this.extraNote.hidden = true;
    this.layersBox.hidden = true;
    this.dockerfileText = '';
    this.sections = [];
    this.ownSteps = 0;
  }

  /** Hides the panel, for a session that ended. */
  clear(): void {
    this.panel.hidden = true;
    this.showState('');
  }

  showState(message: string, outcome = ''): void {
    this.state.textContent = message;
    this.state.dataset.outcome = outcome;
  }

  /** Adds a phase. The phase that was running ends as done, or as failed when this one is `failed`. */
  addPhase(phase: string, message: string): void {
    const ended = phase === 'failed' ? 'failed' : 'done';
    for (const item of this.phases.querySelectorAll<HTMLElement>('li[data-state="running"]'))
      item.dataset.state = ended;
    const item = document.createElement('li');
    item.dataset.phase = phase;
    item.dataset.state = phase === 'done' || phase === 'failed' ? phase : 'running';
    item.textContent = message;
    this.phases.append(item);
    this.showState(message);
  }

  showDockerfile(text: string, notes: string, tag?: string): void {
    this.dockerfileText = text;
    this.sections = splitSections(text);
    this.ownSteps = listInstructions(text).length;
    this.dockerfileBox.querySelector('.lab-build-tag')!.textContent = tag ? `for ${tag}` : '';
    this.dockerfileBox.querySelector('.lab-build-notes')!.textContent = notes;
    this.dockerfileBox
      .querySelector('.lab-build-sections')!
      .replaceChildren(...this.sections.map(sectionElement));
    this.dockerfileBox.hidden = false;
  }

  /** Appends a line of the builder's output and marks the section its step came from. */
  addLine(line: string): void {
    this.logBox.hidden = false;
    const { runs, red } = parseAnsi(line, this.red);
    this.red = red;
    if (this.logLines < MAX_LOG_LINES) this.log.append(...runs.map(runNode), '\n');
    this.logLines += 1;

    const step = STEP_LINE.exec(line);
    if (step) this.showStep(Number(step[1]), Number(step[2]));
  }

  /**
   * Shows the step being built, counted as in the Dockerfile shown. The builder's count also has
   * the LABEL steps the lab server adds at the end, which the output's note names.
   */
  private showStep(number: number, total: number): void {
    const own = this.ownSteps || total;
    if (total > own) this.showExtraSteps(own + 1, total);
    if (number > own) {
      this.showState(
        `Building: labelling the image for the lab server (step ${number} of ${total} in the output)`,
      );
      this.markSection(undefined, 'running');
      return;
    }

    const section = sectionOfStep(this.dockerfileText, this.sections, number);
    this.showState(
      `Building: step ${number} of ${own}${section ? `, from ${section.source}` : ''}`,
    );
    this.markSection(section?.source, 'running');
  }

  private showExtraSteps(first: number, last: number): void {
    if (!this.extraNote.hidden) return;
    this.extraNote.textContent =
      `Steps ${first} to ${last} are not in the Dockerfile: they are LABEL lines (dev.ddevlab.*) that the lab server adds, ` +
      'by which it finds and removes the images it built.';
    this.extraNote.hidden = false;
  }

  finish(message: string, layers: readonly ImageLayer[]): void {
    this.panel.dataset.outcome = 'done';
    this.markSection(undefined, 'running');
    this.addPhase('done', message);
    this.layersBox.querySelector('tbody')!.replaceChildren(...layers.map(layerRow));
    this.layersBox.hidden = layers.length === 0;
  }

  /**
   * Shows why the Restart or preview failed in the panel's error box, with the failing step and
   * file when the server named them. The bar above only points there, so the message appears once.
   * The builder's output opens at its end, where the error is.
   */
  fail(message: string, failing: { step?: string; source?: string } = {}): void {
    this.panel.hidden = false;
    this.panel.dataset.outcome = 'failed';
    this.markSection(undefined, 'running');
    this.addPhase('failed', '✗ Failed.');
    this.showState('✗ Failed: the build panel below says why.', 'failed');

    const box = this.panel.querySelector<HTMLElement>('.lab-build-error')!;
    box.querySelector('.lab-build-error-message')!.replaceChildren(...withInlineCode(message));
    const where = box.querySelector<HTMLElement>('.lab-build-error-where')!;
    where.replaceChildren(
      ...withInlineCode(
        failing.step
          ? `Failing step: ${failing.step}${failing.source ? `, from ${failing.source}` : ''}.`
          : '',
      ),
    );
    // The server's message usually names the step already, so a second line would repeat it.
    where.hidden = !failing.step || message.includes(failing.step);
    box.hidden = false;
    this.markSection(failing.source, 'failed');
    this.openLogAtEnd();
  }

  private openLogAtEnd(): void {
    if (this.logBox.hidden) return;
    this.logBox.open = true;
    const pre = this.logBox.querySelector<HTMLElement>('pre')!;
    pre.scrollTop = pre.scrollHeight;
  }

  private hideError(): void {
    this.panel.querySelector<HTMLElement>('.lab-build-error')!.hidden = true;
  }

  /** Gives the named section the state, and takes the state from every other section. */
  private markSection(source: string | undefined, state: 'running' | 'failed'): void {
    for (const element of this.dockerfileBox.querySelectorAll<HTMLElement>('.lab-build-section')) {
      if (element.dataset.source === source) element.dataset.state = state;
      else if (element.dataset.state === state) delete element.dataset.state;
    }
  }
}

function sectionElement(section: DockerfileSection): HTMLElement {
  const element = document.createElement('div');
  element.className = 'lab-build-section';
  element.dataset.source = section.source;
  // Files of the project's web-build folder, as opposed to the steps DDEV (and ddev-lab) write.
  if (section.source.startsWith('web-build/')) element.dataset.project = 'true';

  const label = document.createElement('p');
  label.className = 'lab-build-source';
  label.textContent = section.source;

  const pre = document.createElement('pre');
  pre.tabIndex = 0;
  const code = document.createElement('code');
  code.textContent = section.lines
    .map((line, index) => `${String(section.firstLine + index).padStart(3)}  ${line}`)
    .join('\n');
  pre.append(code);

  element.append(label, pre);
  return element;
}

function layerRow(layer: ImageLayer): HTMLTableRowElement {
  const row = document.createElement('tr');
  const size = document.createElement('td');
  size.textContent = formatBytes(layer.sizeBytes);
  const madeBy = document.createElement('td');
  const text = describeLayer(layer.createdBy);
  // A layer with no step gets words, not code.
  if (layer.createdBy.trim() === '') madeBy.textContent = text;
  else madeBy.append(Object.assign(document.createElement('code'), { textContent: text }));
  row.append(size, madeBy);
  return row;
}

function runNode(run: { text: string; red: boolean }): Node {
  if (!run.red) return document.createTextNode(run.text);
  const span = document.createElement('span');
  span.className = 'lab-build-red';
  span.textContent = run.text;
  return span;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
