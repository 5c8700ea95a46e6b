// Reads the instructions of a generated Dockerfile: their lines, the images they refer to, and
// the fragment each came from. The engine's builder is the real parser; this one only needs to
// find FROM and COPY --from, and to number the steps the way the classic builder does.
import type { DockerfileSection, GeneratedDockerfile } from './dockerfile.ts';
import { ImageReferenceError, RemoteSourceError } from './errors.ts';
import { remoteAddSource } from './plain-dockerfile.ts';

export interface Instruction {
  /** Line of the keyword, counted from 1. */
  line: number;
  keyword: string;
  /** The instruction with its continuation lines joined by spaces. */
  text: string;
}

/** Splits a Dockerfile into instructions, joining lines that end with a backslash. */
export function listInstructions(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let current: Instruction | undefined;

  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();

    // The builder drops comment lines, also inside a continued instruction.
    if (trimmed.startsWith('#')) return;
    if (!current && trimmed === '') return;

    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, '') : line;
    if (current) {
      current.text = `${current.text} ${body.trim()}`.trim();
    } else {
      const keyword = (/^\s*(\S+)/.exec(body)?.[1] ?? '').toUpperCase();
      current = { line: index + 1, keyword, text: body.trim() };
    }

    if (!continued) {
      instructions.push(current);
      current = undefined;
    }
  });

  if (current) instructions.push(current);
  return instructions;
}

/**
 * Rejects a FROM or COPY --from that names an image other than $BASE_IMAGE, an earlier stage or
 * an allowed image, so a build cannot read another learner's image from the engine.
 */
export function checkImageReferences(generated: GeneratedDockerfile, allowedImages: readonly string[]): void {
  const stages: string[] = [];
  const allowed = new Set(['scratch', ...allowedImages]);
  const isStage = (name: string) => stages.includes(name.toLowerCase()) || /^\d+$/.test(name);

  for (const instruction of listInstructions(generated.text)) {
    const words = instruction.text.split(/\s+/).slice(1);
    const source = sectionOf(generated.sections, instruction.line)?.source ?? 'the generated Dockerfile';

    if (instruction.keyword === 'FROM') {
      const [image = '', as, alias] = words.filter((word) => !word.startsWith('--'));
      const isBase = /^\$\{?BASE_IMAGE\}?$/.test(image);
      if (!isBase && !allowed.has(image) && !isStage(image)) {
        throw new ImageReferenceError(source, image, [...allowed]);
      }
      if (as?.toUpperCase() === 'AS' && alias) stages.push(alias.toLowerCase());
      continue;
    }

    if (instruction.keyword === 'ADD') {
      // The engine fetches an ADD URL itself, from the host's own network, past every firewall
      // rule that confines the build's containers.
      const remote = remoteAddSource(instruction.text.slice('ADD'.length));
      if (remote) throw new RemoteSourceError(source, remote);
    }

    if (instruction.keyword === 'COPY' || instruction.keyword === 'ADD') {
      const from = words.find((word) => word.toLowerCase().startsWith('--from='));
      const image = from?.slice('--from='.length);
      if (image !== undefined && !isStage(image) && !allowed.has(image)) {
        throw new ImageReferenceError(source, image, [...allowed]);
      }
    }
  }
}

/** Returns the section that contains the line. */
export function sectionOf(sections: readonly DockerfileSection[], line: number): DockerfileSection | undefined {
  return sections.find((section) => line >= section.firstLine && line <= section.lastLine);
}

/**
 * Returns the fragment that a classic-builder step number (`Step 7/12`) came from: the builder
 * counts every instruction from 1, including the ARG before the first FROM.
 */
export function sourceOfStep(generated: GeneratedDockerfile, step: number): string | undefined {
  const instruction = listInstructions(generated.text)[step - 1];
  if (!instruction) return undefined;
  return sectionOf(generated.sections, instruction.line)?.source;
}
