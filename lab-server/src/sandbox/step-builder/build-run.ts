// One build of the step builder. It reads the Dockerfile and the context, and runs each
// instruction in a step container that it commits to a step image, unless the layer cache has
// the image. When the build ends it removes its containers, and on failure its step images too.
import type Docker from 'dockerode';

import { managedLabels } from '../labels.ts';
import { BuildArgs } from './build-args.ts';
import type { StepBuilder, StepBuildRequest, StepBuildResult } from './builder.ts';
import { readContext } from './context.ts';
import { commitContainer, type ImageConfig } from './engine.ts';
import { allowedImage } from './image-access.ts';
import { cacheKey, findCachedImage } from './layer-cache.ts';
import {
  BuildFailure,
  failureDetail,
  quotaFullFailure,
  RUN_OUTPUT,
  short,
  type BuildMessage,
} from './messages.ts';
import { sessionDiskUse } from './disk-budget.ts';
import { LABELS } from '../labels.ts';
import { parseDockerfile, type Instruction } from './parse.ts';
import { planStep, type PlanBuild, type Step } from './plan.ts';
import { openStage, type Stage } from './stage.ts';
import { StepContainers } from './step-containers.ts';

export class BuildRun {
  private readonly builder: StepBuilder;
  private readonly request: StepBuildRequest;
  private readonly docker: Docker;
  private readonly abort = new AbortController();
  private timedOut = false;
  private readonly stages: Stage[] = [];
  private stage: Stage | undefined;
  private readonly args: BuildArgs;
  /** Step images this build committed, oldest first. */
  private readonly created: string[] = [];
  private readonly containers: StepContainers;
  private step: { number: number; text: string } | undefined;
  private readonly stepLabels: Record<string, string>;

  constructor(builder: StepBuilder, request: StepBuildRequest) {
    this.builder = builder;
    this.request = request;
    this.docker = builder.engine;
    this.args = new BuildArgs(request.buildArgs);
    const { instance, sessionId, labId } = request.owner;
    this.stepLabels = managedLabels({ kind: 'image', instance, sessionId, labId });
    this.containers = new StepContainers({
      docker: this.docker,
      // The same keys as the step images' labels: a commit copies a container's labels that the
      // image lacks, so the containers' own `kind` never reaches an image.
      labels: managedLabels({ kind: 'build', instance, sessionId, labId }),
      limits: request.limits,
      signal: this.abort.signal,
      pollMs: builder.interval,
      storageQuota: (image, labels) => builder.quota(image, labels),
    });
  }

  async execute(): Promise<StepBuildResult> {
    const timer = setTimeout(() => {
      this.timedOut = true;
      this.abort.abort();
    }, this.request.limits.timeoutSeconds * 1000);
    const onAbort = () => this.abort.abort();
    this.request.signal?.addEventListener('abort', onAbort);

    try {
      const imageId = await this.dispatchAll();
      await this.tag(imageId);
      return { ok: true, imageId };
    } catch (error) {
      const detail = failureDetail(error, {
        timedOut: this.timedOut,
        aborted: this.abort.signal.aborted,
        timeoutSeconds: this.request.limits.timeoutSeconds,
      });
      this.send({
        error: detail,
        errorDetail: {
          code: error instanceof BuildFailure ? error.code : undefined,
          message: detail,
        },
      });
      await this.removeCreated();
      return { ok: false, timedOut: this.timedOut, detail, step: this.step };
    } finally {
      clearTimeout(timer);
      this.request.signal?.removeEventListener('abort', onAbort);
      await this.containers.removeAll();
    }
  }

  private send(message: BuildMessage): void {
    this.request.onMessage(message);
  }

  private say(text: string): void {
    if (!this.request.quiet) this.send({ stream: text });
  }

  private checkAbort(): void {
    if (this.abort.signal.aborted) throw new BuildFailure('the build was stopped');
  }

  private async dispatchAll(): Promise<string> {
    const instructions = readInstructions(this.request.dockerfile);
    instructions.push(...labelInstructions(this.request.labels));

    const context = await readContext(this.request.context);
    await this.holdSessionImages();
    const build: PlanBuild = {
      docker: this.docker,
      args: this.args,
      context,
      stages: this.stages,
      image: (ref, what) => this.image(ref, what),
      containers: this.containers,
      signal: this.abort.signal,
    };
    const total = instructions.length;
    for (const [index, instruction] of instructions.entries()) {
      this.checkAbort();
      this.step = { number: index + 1, text: instruction.original };
      this.say(`Step ${index + 1}/${total} : ${instruction.original}\n`);
      await this.dispatch(instruction, build);
    }

    const unused = this.args.unused();
    if (unused.length > 0)
      this.say(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);

    const imageId = this.stage!.imageId;
    this.send({ aux: { ID: imageId } });
    if (this.request.quiet) this.send({ stream: `${imageId}\n` });
    this.say(`Successfully built ${short(imageId)}\n`);
    return imageId;
  }

  /**
   * Counts what the session's images hold against its disk quota, and refuses the build when
   * they fill it. A Restart (its labels name the service it rebuilds) replaces the image under its
   * tag, so that image counts nothing.
   */
  private async holdSessionImages(): Promise<void> {
    const { instance, sessionId } = this.request.owner;
    const replaces = this.request.labels[LABELS.service] ? this.request.tags[0] : undefined;
    const heldBytes = await sessionDiskUse(this.docker, { instance, sessionId }, replaces);
    this.containers.hold(heldBytes);
    if (this.containers.roomBytes <= 0)
      throw quotaFullFailure({ quotaBytes: this.request.limits.diskBytes, heldBytes });
  }

  private async tag(imageId: string): Promise<void> {
    for (const tag of this.request.tags) {
      const at = tag.lastIndexOf(':');
      const hasTag = at > tag.lastIndexOf('/');
      await this.docker
        .getImage(imageId)
        .tag({ repo: hasTag ? tag.slice(0, at) : tag, tag: hasTag ? tag.slice(at + 1) : 'latest' });
      this.say(
        `Successfully tagged ${(this.request.showTag ?? ((value) => value))(hasTag ? tag : `${tag}:latest`)}\n`,
      );
    }
  }

  private async dispatch(instruction: Instruction, build: PlanBuild): Promise<void> {
    const { keyword } = instruction;
    if (keyword === 'FROM') return this.from(instruction);
    if (keyword === 'ARG' && !this.stage) return this.args.declareGlobal(instruction.args);

    const stage = this.stage!;
    const step = await planStep(instruction, stage, build);
    await this.commitStep(stage, step);
  }

  private async from(instruction: Instruction): Promise<void> {
    const { stage, scratch } = await openStage(this.docker, instruction, {
      stages: this.stages,
      globals: this.args.globalValues(),
      stepLabels: this.stepLabels,
      image: (ref, what) => this.image(ref, what),
    });
    if (!scratch) this.say(` ---> ${short(stage.imageId)}\n`);
    this.stages.push(stage);
    this.stage = stage;
  }

  /** Returns an image that FROM or COPY --from names, when the request allows it. */
  private image(ref: string, what: string): Promise<Docker.ImageInspectInfo> {
    return allowedImage(this.docker, this.request, ref, what);
  }

  // ---- running and committing one step ---------------------------------------------------

  private async commitStep(stage: Stage, step: Step): Promise<void> {
    const commitConfig = commitSettings(step, this.stepLabels);
    const key = cacheKey(this.request.owner.sessionId, stage.imageId, step, commitConfig);
    if (!this.request.noCache && (await this.useCache(stage, step, key))) return;

    const container = await this.containers.create(
      stage.imageId,
      step.cmd,
      step.config,
      step.run?.entrypoint,
      step.run ? this.request.network : 'none',
    );
    this.say(` ---> Running in ${short(container.id)}\n`);
    try {
      if (step.act) await step.act(container);
      if (step.run)
        await this.containers.run(container, step.run.commandText, (text) => {
          if (!this.request.quiet) this.send({ stream: text, [RUN_OUTPUT]: true });
        });
      this.checkAbort();
      const imageId = await commitContainer(container, commitConfig);
      this.created.push(imageId);
      this.builder.layers.remember(key, imageId);

      const info = await this.docker.getImage(imageId).inspect();
      this.containers.charge(Math.max(0, info.Size - stage.sizeBytes));
      await this.containers.remove(container);
      this.say(`Removing intermediate container ${short(container.id)}\n ---> ${short(imageId)}\n`);
      advance(stage, imageId, step.config, info.Size);
    } finally {
      await this.containers.remove(container);
    }
  }

  /** Moves the stage to the cached image of the step, when there is one; false when there is not. */
  private async useCache(stage: Stage, step: Step, key: string): Promise<boolean> {
    const hit = await findCachedImage(this.docker, this.builder.layers, {
      key,
      parent: stage.imageId,
      sessionId: this.request.owner.sessionId,
    });
    if (!hit) return false;

    this.say(` ---> Using cache\n ---> ${short(hit.Id)}\n`);
    advance(stage, hit.Id, step.config, hit.Size);
    return true;
  }

  /** Removes the step images of a failed build, newest first; the engine keeps any still in use. */
  private async removeCreated(): Promise<void> {
    for (const imageId of [...this.created].reverse()) {
      this.builder.layers.forgetImage(imageId);
      await this.docker
        .getImage(imageId)
        .remove({ noprune: true })
        .catch(() => undefined);
    }
  }
}

/** Parses the Dockerfile and checks that it has a FROM with nothing but ARG lines before it. */
function readInstructions(dockerfile: string): Instruction[] {
  let instructions: Instruction[];
  try {
    instructions = parseDockerfile(dockerfile);
  } catch (error) {
    throw new BuildFailure(`failed to parse the Dockerfile: ${(error as Error).message}`);
  }
  if (!instructions.some((instruction) => instruction.keyword === 'FROM'))
    throw new BuildFailure('the Dockerfile has no FROM instruction');
  if (
    instructions[0]!.keyword !== 'FROM' &&
    instructions
      .slice(
        0,
        instructions.findIndex((i) => i.keyword === 'FROM'),
      )
      .some((i) => i.keyword !== 'ARG')
  ) {
    throw new BuildFailure('only ARG instructions may come before the first FROM');
  }
  return instructions;
}

/** Returns the request's labels as LABEL lines, sorted by key, for the end of the Dockerfile. */
function labelInstructions(labels: Record<string, string>): Instruction[] {
  return Object.keys(labels)
    .sort()
    .map((key) => {
      const value = labels[key]!;
      // Quoted with $ escaped, so the value is taken as given, as the classic builder takes it.
      const quoted = `"${value.replace(/[\\"$]/g, '\\$&')}"`;
      return {
        keyword: 'LABEL',
        flags: {},
        args: `${key}=${quoted}`,
        original: `LABEL ${key}=${value}`,
        line: 0,
      };
    });
}

/**
 * Returns the settings a step's commit writes: the step's, with the build's labels. A commit
 * fills an empty entrypoint from the container's, so an empty list keeps the build-argument
 * wrapper out of the image.
 */
function commitSettings(step: Step, stepLabels: Record<string, string>): ImageConfig {
  // NOTE: a commit also fills an empty Cmd from the container's, so a step image with neither
  // CMD nor ENTRYPOINT (a scratch stage before its CMD) gets the step's history line as Cmd.
  let entrypoint: string[] | null = step.run?.entrypoint ? [] : null;
  if (step.config.Entrypoint && step.config.Entrypoint.length > 0)
    entrypoint = step.config.Entrypoint;
  return {
    ...step.config,
    Labels: { ...(step.config.Labels ?? {}), ...stepLabels },
    Entrypoint: entrypoint,
  };
}

function advance(stage: Stage, imageId: string, config: ImageConfig, sizeBytes: number): void {
  stage.imageId = imageId;
  stage.config = config;
  stage.sizeBytes = sizeBytes;
}
