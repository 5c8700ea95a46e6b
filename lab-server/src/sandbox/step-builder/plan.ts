// Planning one step: what a Dockerfile instruction becomes before it runs. A step is a container
// command (the history line), the image settings after it, and the action that changes the
// container's files before the commit.
import type Docker from 'dockerode';

import type { BuildArgs } from './build-args.ts';
import type { ContextEntry } from './context.ts';
import type { ImageConfig } from './engine.ts';
import { BuildFailure } from './messages.ts';
import type { Instruction } from './parse.ts';
import { planCopy } from './plan-copy.ts';
import { planRun } from './plan-run.ts';
import { planSetting } from './plan-settings.ts';
import { envMap, type Stage } from './stage.ts';
import type { StepContainers } from './step-containers.ts';
import type { Variables } from './words.ts';

export interface Step {
  /** The container's command: what `docker history` shows. */
  cmd: string[];
  config: ImageConfig;
  /** What else decides the result besides the parent, the command and the settings. */
  extra?: string;
  /** Runs in the created container before the commit. */
  act?: (container: Docker.Container) => Promise<void>;
  run?: { entrypoint?: string[]; commandText: string };
}

/** One instruction with what its planner reads. */
export interface PlanInput {
  instruction: Instruction;
  stage: Stage;
  /** A copy of the stage's settings, which the planner changes into the step's. */
  config: ImageConfig;
  /** The stage's SHELL, or the default `/bin/sh -c`. */
  shell: string[];
  /** Build arguments and environment variables, for `$name` in the instruction. */
  variables: Variables;
}

/** The parts of the running build that planned steps use. */
export interface PlanBuild {
  docker: Docker;
  args: BuildArgs;
  context: Map<string, ContextEntry>;
  stages: readonly Stage[];
  /** Returns the image for a name that is not a stage, if the build may use it; see image-access.ts. */
  image: (ref: string, what: string) => Promise<Docker.ImageInspectInfo>;
  containers: StepContainers;
  /** Aborts on the build's time limit or the client's cancel. */
  signal: AbortSignal;
}

const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** Plans the step of an instruction after FROM; BuildKit-only flags fail the build. */
export async function planStep(
  instruction: Instruction,
  stage: Stage,
  build: PlanBuild,
): Promise<Step> {
  const { keyword } = instruction;
  const config = structuredClone(stage.config);
  const shell = config.Shell && config.Shell.length > 0 ? config.Shell : DEFAULT_SHELL;
  const variables = { ...build.args.values(stage.args), ...envMap(stage.config.Env) };
  const input: PlanInput = { instruction, stage, config, shell, variables };

  if (
    instruction.flags.mount !== undefined ||
    instruction.flags.network !== undefined ||
    instruction.flags.security !== undefined
  ) {
    throw new BuildFailure(
      `${keyword} --${Object.keys(instruction.flags)[0]} needs BuildKit, which this lab server does not use: ${instruction.original}`,
    );
  }

  if (keyword === 'RUN') return planRun(input, build.args);
  if (keyword === 'COPY' || keyword === 'ADD') return planCopy(input, build);
  return planSetting(input, build.args);
}
