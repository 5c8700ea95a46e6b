// Reads the instructions of a generated Dockerfile: their lines, the images they refer to, and
// the fragment each came from. The engine's builder is the real parser; this one only needs to
// find FROM and COPY --from, and to number the steps the way the classic builder does.
import type { DockerfileSection, GeneratedDockerfile } from './dockerfile.ts';
import { ImageReferenceError, RemoteSourceError, UnboundedInstructionError } from './errors.ts';
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
 * an allowed image, so a build cannot read another learner's image from the engine. Also rejects
 * an ADD of a URL, a VOLUME and a HEALTHCHECK that probes more often than every 5 s.
 */
export function checkInstructions(
  generated: GeneratedDockerfile,
  allowedImages: readonly string[],
): void {
  const stages: string[] = [];
  const allowed = new Set(['scratch', ...allowedImages]);
  const isStage = (name: string) => stages.includes(name.toLowerCase()) || /^\d+$/.test(name);

  for (const instruction of listInstructions(generated.text)) {
    const words = instruction.text.split(/\s+/).slice(1);
    const source =
      sectionOf(generated.sections, instruction.line)?.source ?? 'the generated Dockerfile';

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

    // A volume lives outside the container's writable layer and its disk quota, and each health
    // probe is an exec the engine runs outside the container's CPU limit.
    if (instruction.keyword === 'VOLUME')
      throw new UnboundedInstructionError(
        source,
        instruction.text,
        "a volume is kept outside the container's disk quota; keep the files in the image",
      );
    if (instruction.keyword === 'HEALTHCHECK') {
      const short = shortHealthcheckOption(instruction.text);
      if (short)
        throw new UnboundedInstructionError(
          source,
          instruction.text,
          `${short} is shorter than ${HEALTHCHECK_MIN_SECONDS} s; probe at most every ${HEALTHCHECK_MIN_SECONDS} s`,
        );
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
export function sectionOf(
  sections: readonly DockerfileSection[],
  line: number,
): DockerfileSection | undefined {
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

/** Minimum interval, timeout and start period of a health check, in seconds. */
export const HEALTHCHECK_MIN_SECONDS = 5;
const DURATION_UNITS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/** Returns the first HEALTHCHECK option, such as `--interval=1ms`, shorter than the minimum. */
export function shortHealthcheckOption(text: string): string | undefined {
  for (const match of text.matchAll(/--(interval|timeout|start-period|start-interval)=(\S+)/g)) {
    const seconds = parseDuration(match[2]!);
    if (seconds === undefined || (seconds > 0 && seconds < HEALTHCHECK_MIN_SECONDS))
      return match[0];
  }
  return undefined;
}

/** Reads a Go duration such as `1m30s` or `500ms` in seconds; undefined when it is not one. */
function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) return undefined;
  return parts.reduce((sum, part) => sum + Number(part[1]) * DURATION_UNITS[part[2]!]!, 0);
}
