// Reads a learner's Dockerfile before the engine builds it. The classic builder would pull any
// base image, fetch any URL for ADD (from the host's network, not the sandbox's) and copy out of
// any image on the engine; the proxy allows base images it can vouch for and nothing fetched.
// It reads the Dockerfile with the step builder's own parser, so it checks the instructions the
// builder runs, and the builder checks each image again once variables are replaced.
import {
  assertPlainDockerfile,
  remoteAddSource,
  UnplainDockerfileError,
} from '../project-build/plain-dockerfile.ts';
import {
  DockerfileSyntaxError,
  parseDockerfile,
  type Instruction,
} from '../sandbox/step-builder/parse.ts';
import { badRequest, notAllowed } from './refusals.ts';

interface Stage {
  /** The base image as written after substitution; a stage name when it builds on a stage. */
  image: string;
  alias?: string;
  fromIndex: number;
}

export interface CheckedDockerfile {
  /** Base images to vouch for: neither `scratch` nor an earlier stage. */
  images: string[];
  /** The Dockerfile with each FROM naming the engine's reference from the map. */
  render(engineRefs: ReadonlyMap<string, string>): string;
}

/** Parses and checks the Dockerfile; throws a 403 refusal naming the first line that is not allowed. */
export function checkDockerfile(
  text: string,
  buildArgs: Record<string, string>,
): CheckedDockerfile {
  try {
    assertPlainDockerfile(text, 'The Dockerfile');
  } catch (error) {
    if (error instanceof UnplainDockerfileError) throw notAllowed('This Dockerfile', error.message);
    throw error;
  }
  const instructions = readInstructions(text);
  const globals: Record<string, string> = {};
  const stages: Stage[] = [];

  instructions.forEach((instruction, index) => {
    const { keyword, args, flags } = instruction;

    if (keyword === 'ARG' && stages.length === 0) Object.assign(globals, parseArg(args, buildArgs));
    if (keyword === 'FROM')
      stages.push(parseFrom(args, { ...globals, ...pick(buildArgs, Object.keys(globals)) }, index));
    if (keyword === 'ONBUILD') throw notAllowed('ONBUILD in a Dockerfile');
    if (keyword === 'VOLUME') {
      throw notAllowed(
        `The line "VOLUME ${args}"`,
        "a volume is kept outside the container's disk quota; leave the files in the image or the container",
      );
    }
    if (keyword === 'ADD') refuseRemoteAdd(args);
    if ((keyword === 'COPY' || keyword === 'ADD') && flags.from !== undefined)
      refuseCopyFromImage(flags.from, stages);
  });
  if (stages.length === 0) throw notAllowed('A Dockerfile without FROM');

  const stageNames = new Set<string>();
  const images: string[] = [];
  for (const stage of stages) {
    const image = stage.image.toLowerCase();
    if (image !== 'scratch' && !stageNames.has(image)) images.push(stage.image);
    if (stage.alias) stageNames.add(stage.alias.toLowerCase());
  }

  const render = (engineRefs: ReadonlyMap<string, string>) =>
    instructions
      .map((instruction, index) => {
        const stage = stages.find((candidate) => candidate.fromIndex === index);
        // One line per instruction: the builder parses it to the same instruction as the lines written.
        if (!stage) return instruction.original;
        const ref = engineRefs.get(stage.image) ?? stage.image;
        return `FROM ${ref}${stage.alias ? ` AS ${stage.alias}` : ''}`;
      })
      .join('\n');

  return { images: [...new Set(images)], render };
}

/** Parses the text as the step builder does; a repeated flag is a bad request. */
function readInstructions(text: string): Instruction[] {
  try {
    return parseDockerfile(text);
  } catch (error) {
    if (error instanceof DockerfileSyntaxError)
      throw badRequest(`invalid Dockerfile: ${error.message}`);
    throw error;
  }
}

function parseArg(args: string, buildArgs: Record<string, string>): Record<string, string> {
  const [name = '', ...rest] = args.split('=');
  const key = name.trim();
  if (buildArgs[key] !== undefined) return { [key]: buildArgs[key] };
  if (rest.length === 0) return {};
  return {
    [key]: rest
      .join('=')
      .trim()
      .replace(/^"(.*)"$/, '$1'),
  };
}

function parseFrom(args: string, variables: Record<string, string>, fromIndex: number): Stage {
  const words = args.split(/\s+/).filter((word) => word !== '');
  const [image = '', as, alias] = words;
  if (!image || (as !== undefined && (as.toLowerCase() !== 'as' || !alias)))
    throw notAllowed(`The line "FROM ${args}"`);

  return { image: substitute(image, variables), alias, fromIndex };
}

/** Replaces $NAME, ${NAME} and ${NAME:-default}; an unknown name is refused, not left empty. */
function substitute(value: string, variables: Record<string, string>): string {
  return value.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_match, braced, fallback, bare) => {
      const name = (braced ?? bare) as string;
      const found = variables[name] ?? (fallback as string | undefined);
      if (found === undefined)
        throw notAllowed(
          `FROM with the unset variable ${name}`,
          'give it a default in an ARG line before FROM',
        );
      return found;
    },
  );
}

function refuseRemoteAdd(args: string): void {
  const remote = remoteAddSource(args);
  if (remote)
    throw notAllowed(
      `ADD from ${remote}`,
      'builds have no network; COPY files from the build context',
    );
}

function refuseCopyFromImage(from: string, stages: Stage[]): void {
  const earlierStage = /^\d+$/.test(from)
    ? Number(from) < stages.length
    : stages.some((stage) => stage.alias?.toLowerCase() === from.toLowerCase());
  if (!earlierStage)
    throw notAllowed(
      `Copying from the image ${from} (--from)`,
      'copy from an earlier stage of this Dockerfile',
    );
}

function pick(values: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(
    keys.filter((key) => values[key] !== undefined).map((key) => [key, values[key]!]),
  );
}
