// Reads the instructions of a generated Dockerfile: their lines, the images they refer to, and
// the fragment each came from. It uses the step builder's own parser, so the checks see the
// instructions the builder runs, with the builder's step numbers. The builder checks each image
// again once variables are replaced.
import {
  DockerfileSyntaxError,
  parseDockerfile,
  type Instruction as ParsedInstruction,
} from '../sandbox/step-builder/parse.ts';
import type { DockerfileSection, GeneratedDockerfile } from './dockerfile.ts';
import {
  DockerfileParseError,
  ImageReferenceError,
  RemoteSourceError,
  UnboundedInstructionError,
} from './errors.ts';
import { remoteAddSource } from './plain-dockerfile.ts';

export interface Instruction {
  /** Line of the keyword, counted from 1. */
  line: number;
  keyword: string;
  /** The instruction on one line, as the builder prints it after `Step N/M : `. */
  text: string;
  /** Flags before the arguments, by lower-case name. */
  flags: Record<string, string>;
  /** The arguments after the keyword and the flags. */
  args: string;
}

/** Splits a Dockerfile into instructions as the step builder does. */
export function listInstructions(text: string): Instruction[] {
  return parseDockerfile(text).map((parsed: ParsedInstruction) => ({
    line: parsed.line,
    keyword: parsed.keyword,
    text: parsed.original,
    flags: parsed.flags,
    args: parsed.args,
  }));
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
  const sourceOfLine = (line: number) =>
    sectionOf(generated.sections, line)?.source ?? 'the generated Dockerfile';

  let instructions: Instruction[];
  try {
    instructions = listInstructions(generated.text);
  } catch (error) {
    if (error instanceof DockerfileSyntaxError)
      throw new DockerfileParseError(sourceOfLine(error.line), error.message);
    throw error;
  }

  for (const instruction of instructions) {
    const { keyword, flags } = instruction;
    const words = instruction.args.split(/\s+/).filter((word) => word !== '');
    const source = sourceOfLine(instruction.line);

    if (keyword === 'FROM') {
      const [image = '', as, alias] = words;
      const isBase = /^\$\{?BASE_IMAGE\}?$/.test(image);
      if (!isBase && !allowed.has(image) && !isStage(image)) {
        throw new ImageReferenceError(source, image, [...allowed]);
      }
      if (as?.toUpperCase() === 'AS' && alias) stages.push(alias.toLowerCase());
      continue;
    }

    if (keyword === 'ADD') {
      // The engine fetches an ADD URL itself, from the host's own network, past every firewall
      // rule that confines the build's containers.
      const remote = remoteAddSource(instruction.args);
      if (remote) throw new RemoteSourceError(source, remote);
    }

    // A volume lives outside the container's writable layer and its disk quota, and each health
    // probe is an exec the engine runs outside the container's CPU limit.
    if (keyword === 'VOLUME')
      throw new UnboundedInstructionError(
        source,
        instruction.text,
        "a volume is kept outside the container's disk quota; keep the files in the image",
      );
    if (keyword === 'HEALTHCHECK') {
      const options = Object.entries(flags)
        .map(([name, value]) => `--${name}=${value}`)
        .join(' ');
      const short = shortHealthcheckOption(options);
      if (short)
        throw new UnboundedInstructionError(
          source,
          instruction.text,
          `${short} is shorter than ${HEALTHCHECK_MIN_SECONDS} s; probe at most every ${HEALTHCHECK_MIN_SECONDS} s`,
        );
    }

    if ((keyword === 'COPY' || keyword === 'ADD') && flags.from !== undefined) {
      const image = flags.from;
      if (!isStage(image) && !allowed.has(image)) {
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
  let instructions: Instruction[];
  try {
    instructions = listInstructions(generated.text);
  } catch {
    return undefined;
  }
  const instruction = instructions[step - 1];
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
