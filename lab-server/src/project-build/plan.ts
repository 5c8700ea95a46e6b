// Plans one project image build from a web-build or db-build folder: the generated Dockerfile,
// the build arguments and the files of the build context, with the image references checked.
import path from 'node:path';

import type { BuildArgOptions, GeneratedDockerfile } from './dockerfile.ts';
import { generateDockerfile, projectBuildArgs } from './dockerfile.ts';
import { readBuildFolder } from './folder.ts';
import { checkInstructions } from './instructions.ts';
import { assertPlainDockerfile } from './plain-dockerfile.ts';

export interface BuildPlanOptions extends BuildArgOptions {
  extraPackages: readonly string[];
  /** USER of the base image, when it is not root. */
  baseImageUser?: string;
  /** Images a FROM or COPY --from may name besides $BASE_IMAGE and earlier stages. */
  allowedImages: readonly string[];
}

export interface BuildPlan {
  /** Absolute path of the folder the context comes from. */
  folder: string;
  dockerfile: GeneratedDockerfile;
  buildArgs: Record<string, string>;
  /** Paths relative to the folder, `/`-separated, that go into the context beside the Dockerfile. */
  contextFiles: string[];
  /** Fragments skipped because their name ends in `.example`. */
  skipped: string[];
}

/** Reads the folder and returns what the build needs; throws when a file breaks a rule. */
export async function planProjectBuild(
  folder: string,
  options: BuildPlanOptions,
): Promise<BuildPlan> {
  const contents = await readBuildFolder(folder);
  for (const fragment of contents.fragments) {
    assertPlainDockerfile(fragment.content, `${path.basename(contents.root)}/${fragment.name}`);
  }
  const dockerfile = generateDockerfile(contents, {
    kind: options.kind,
    extraPackages: options.extraPackages,
    baseImageUser: options.baseImageUser,
  });
  checkInstructions(dockerfile, options.allowedImages);

  return {
    folder: contents.root,
    dockerfile,
    buildArgs: projectBuildArgs(options),
    contextFiles: contents.contextFiles,
    skipped: contents.skipped,
  };
}
