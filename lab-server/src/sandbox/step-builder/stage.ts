// Build stages: what FROM starts a stage from (an earlier stage, scratch or an image already on
// the engine) and the image settings a stage carries from step to step.
import type Docker from 'dockerode';

import type { DeclaredArgs } from './build-args.ts';
import { loadScratchImage, type ImageConfig } from './engine.ts';
import { BuildFailure } from './messages.ts';
import type { Instruction } from './parse.ts';
import { expandWords, type Variables } from './words.ts';

export interface Stage {
  name?: string;
  imageId: string;
  config: ImageConfig;
  sizeBytes: number;
  /** Build arguments declared in the stage, with their values. */
  args: DeclaredArgs;
  cmdSet: boolean;
}

/**
 * Starts the stage that a FROM line names, from an earlier stage, scratch or an image on the
 * engine that the build may use. Builds never pull, so a missing image fails the build.
 * `scratch` is true when FROM names scratch, for which the classic builder prints no image id.
 */
export async function openStage(
  docker: Docker,
  instruction: Instruction,
  build: {
    stages: readonly Stage[];
    globals: Variables;
    stepLabels: Record<string, string>;
    /** Returns the image for a name that is neither a stage nor scratch, if the build may use it. */
    image: (ref: string, what: string) => Promise<Docker.ImageInspectInfo>;
  },
): Promise<{ stage: Stage; scratch: boolean }> {
  const words = expandWords(instruction.args, build.globals);
  const [image = '', as, alias] = words;
  if (!image || (as !== undefined && (as.toLowerCase() !== 'as' || !alias)) || words.length > 3) {
    throw new BuildFailure(`FROM requires either one or three arguments: ${instruction.original}`);
  }

  const earlier = build.stages.find(
    (stage) => stage.name !== undefined && stage.name === image.toLowerCase(),
  );
  let stage: Stage;
  if (earlier) {
    stage = {
      ...earlier,
      name: undefined,
      config: structuredClone(earlier.config),
      args: new Map(),
      cmdSet: false,
    };
  } else if (image.toLowerCase() === 'scratch') {
    const imageId = await loadScratchImage(docker, build.stepLabels);
    stage = { imageId, config: {}, sizeBytes: 0, args: new Map(), cmdSet: false };
  } else {
    const info = await build.image(image, 'FROM');
    if ((info.Config?.OnBuild ?? []).length > 0)
      throw new BuildFailure(
        `the image ${image} has ONBUILD triggers, which this lab server's builder does not run`,
      );
    stage = {
      imageId: info.Id,
      config: pickConfig(info.Config),
      sizeBytes: info.Size,
      args: new Map(),
      cmdSet: false,
    };
  }

  stage.name = alias?.toLowerCase();
  return { stage, scratch: image.toLowerCase() === 'scratch' };
}

function pickConfig(config: Docker.ImageInspectInfo['Config'] | undefined): ImageConfig {
  const source = (config ?? {}) as ImageConfig & Record<string, unknown>;
  const picked: ImageConfig = {};
  for (const key of [
    'User',
    'Env',
    'Cmd',
    'Entrypoint',
    'WorkingDir',
    'Labels',
    'ExposedPorts',
    'Volumes',
    'StopSignal',
    'Healthcheck',
    'Shell',
  ] as const) {
    if (source[key] !== undefined && source[key] !== null && source[key] !== '')
      (picked as Record<string, unknown>)[key] = structuredClone(source[key]);
  }
  return picked;
}

/** Returns the `KEY=value` environment list as a map. */
export function envMap(env: readonly string[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const item of env ?? []) {
    const at = item.indexOf('=');
    if (at > 0) map[item.slice(0, at)] = item.slice(at + 1);
  }
  return map;
}
