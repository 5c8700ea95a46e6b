// The step builder: runs a checked Dockerfile one instruction at a time, as the classic builder
// does inside the engine, but with containers the lab server creates itself. Each RUN gets the
// sandboxes' hardening (no capability beyond what package installs need, no new privileges,
// the default seccomp profile, pids, memory, CPU, open-file and disk limits, capped logs) and
// the session's labels, which the engine's build API cannot give. The output is the classic
// builder's JSON message stream, in its words, so the docker CLI and the Restart panel read it
// as before.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type Docker from 'dockerode';

import { createDockerClient } from '../docker-client.ts';
import { isNotFound } from '../image-stream.ts';
import { LABELS, managedLabels } from '../labels.ts';
import { BuildStepError, archiveItems, copyItems, hashSelections, itemBytes, packItems, readContext, readTar, selectSources, type ArchiveItem, type ContextEntry, type Owner } from './context.ts';
import { CopyTooLargeError, copyFromContainer } from './copy-from.ts';
import {
  commitContainer,
  createStepContainer,
  loadScratchImage,
  readAll,
  removeContainer,
  runStepContainer,
  statPath,
  type ImageConfig,
  type StepLimits,
} from './engine.ts';
import { healthcheckText, parseGoDuration, quoteList } from './format.ts';
import { DockerfileSyntaxError, jsonArray, parseDockerfile, type Instruction } from './parse.ts';
import { expandWord, expandWords, splitPairs, type Variables } from './words.ts';

export type BuildMessage = { stream: string } | { aux: { ID: string } } | { error: string; errorDetail: { code?: number; message: string } };

export interface StepBuildRequest {
  /** The checked Dockerfile; FROM and COPY --from name only images the caller allows. */
  dockerfile: string;
  /** The build context as a plain tar archive. */
  context: Buffer;
  /** Engine references to tag the result with. */
  tags: string[];
  /** Display form of a tag for `Successfully tagged`; the engine reference by default. */
  showTag?: (tag: string) => string;
  buildArgs: Record<string, string>;
  /** Labels for the result, one LABEL step each at the end, as the classic builder's `labels` option. */
  labels: Record<string, string>;
  quiet: boolean;
  noCache: boolean;
  owner: { instance: string; sessionId: string; labId?: string };
  limits: StepLimits & { timeoutSeconds: number };
  /** `none`, or the network RUN steps join. */
  network: string;
  onMessage: (message: BuildMessage) => void;
  /** Aborts the build, for a client that went away. */
  signal?: AbortSignal;
}

export type StepBuildResult =
  | { ok: true; imageId: string }
  | { ok: false; timedOut: boolean; detail: string; step?: { number: number; text: string } };

/** Build arguments the classic builder accepts without an ARG line; none is recorded in history. */
const BUILTIN_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);
const DEFAULT_SHELL = ['/bin/sh', '-c'];
const CACHE_ENTRIES = 5000;
// Exports the build arguments listed after `|N` and runs the rest, so that they reach the RUN
// as environment while the container's command reads as the classic builder's history line.
const ARGS_WRAPPER = 'shift; i=0; while [ "$i" -lt "$0" ]; do export "$1"; shift; i=$((i + 1)); done; exec "$@"';

class BuildFailure extends Error {
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.code = code;
  }
}

interface Stage {
  name?: string;
  imageId: string;
  config: ImageConfig;
  sizeBytes: number;
  /** Build arguments declared in the stage, with their values. */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

interface Step {
  /** The container's command: what `docker history` shows. */
  cmd: string[];
  config: ImageConfig;
  /** What else decides the result besides the parent, the command and the settings. */
  extra?: string;
  /** Runs in the created container before the commit; returns the bytes it added, when known. */
  act?: (container: Docker.Container) => Promise<void>;
  run?: { entrypoint?: string[]; commandText: string };
}

export class StepBuilder {
  private readonly docker: Docker;
  private readonly pollMs: number;
  /** Step images by session and cache key, for ` ---> Using cache`. */
  private readonly cache = new Map<string, string>();
  private storageQuota: Promise<boolean> | undefined;

  constructor(docker: Docker = createDockerClient(), options: { pollMs?: number } = {}) {
    this.docker = docker;
    this.pollMs = options.pollMs ?? 1000;
  }

  async build(request: StepBuildRequest): Promise<StepBuildResult> {
    const run = new BuildRun(this, request);
    return run.execute();
  }

  /** @internal */
  get engine(): Docker {
    return this.docker;
  }

  /** @internal */
  get interval(): number {
    return this.pollMs;
  }

  /** @internal Whether the engine caps a container's writable layer; probed once. */
  quota(image: string, labels: Record<string, string>): Promise<boolean> {
    this.storageQuota ??= probeStorageQuota(this.docker, image, labels);
    return this.storageQuota;
  }

  /** @internal */
  cached(key: string): string | undefined {
    return this.cache.get(key);
  }

  /** @internal */
  remember(key: string, imageId: string): void {
    this.cache.delete(key);
    this.cache.set(key, imageId);
    while (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
  }

  /** @internal */
  forgetImage(imageId: string): void {
    for (const [key, value] of this.cache) if (value === imageId) this.cache.delete(key);
  }
}

export function openStepBuilder(docker?: Docker): StepBuilder {
  return new StepBuilder(docker);
}

class BuildRun {
  private readonly builder: StepBuilder;
  private readonly request: StepBuildRequest;
  private readonly docker: Docker;
  private readonly abort = new AbortController();
  private timedOut = false;
  private readonly stages: Stage[] = [];
  private stage: Stage | undefined;
  private readonly globalArgs = new Map<string, string | undefined>();
  private readonly usedArgs = new Set<string>();
  /** Step images this build committed, oldest first. */
  private readonly created: string[] = [];
  private readonly containers = new Set<Docker.Container>();
  private addedBytes = 0;
  private context: Map<string, ContextEntry> | undefined;
  private step: { number: number; text: string } | undefined;
  private readonly stepLabels: Record<string, string>;
  private readonly containerLabels: Record<string, string>;

  constructor(builder: StepBuilder, request: StepBuildRequest) {
    this.builder = builder;
    this.request = request;
    this.docker = builder.engine;
    const { instance, sessionId, labId } = request.owner;
    this.stepLabels = managedLabels({ kind: 'image', instance, sessionId, labId });
    // The same keys as the step images' labels: a commit copies a container's labels that the
    // image lacks, so the containers' own `kind` never reaches an image.
    this.containerLabels = managedLabels({ kind: 'build', instance, sessionId, labId });
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
      const detail = this.describe(error);
      this.send({ error: detail, errorDetail: { code: error instanceof BuildFailure ? error.code : undefined, message: detail } });
      await this.removeCreated();
      return { ok: false, timedOut: this.timedOut, detail, step: this.step };
    } finally {
      clearTimeout(timer);
      this.request.signal?.removeEventListener('abort', onAbort);
      await Promise.all([...this.containers].map((container) => removeContainer(container).catch(() => undefined)));
    }
  }

  private describe(error: unknown): string {
    if (this.timedOut) return `the build ran past its time limit of ${this.request.limits.timeoutSeconds} seconds and was stopped`;
    if (this.abort.signal.aborted) return 'the build was cancelled';
    if (error instanceof BuildFailure || error instanceof BuildStepError || error instanceof DockerfileSyntaxError) return error.message;
    // An engine call failed: the output carries the engine's message, as the classic builder's does.
    return `the build failed on the lab server: ${(error as Error).message ?? String(error)}`;
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
    let instructions: Instruction[];
    try {
      instructions = parseDockerfile(this.request.dockerfile);
    } catch (error) {
      throw new BuildFailure(`failed to parse the Dockerfile: ${(error as Error).message}`);
    }
    if (!instructions.some((instruction) => instruction.keyword === 'FROM')) throw new BuildFailure('the Dockerfile has no FROM instruction');
    if (instructions[0]!.keyword !== 'FROM' && instructions.slice(0, instructions.findIndex((i) => i.keyword === 'FROM')).some((i) => i.keyword !== 'ARG')) {
      throw new BuildFailure('only ARG instructions may come before the first FROM');
    }

    const labelKeys = Object.keys(this.request.labels).sort();
    for (const key of labelKeys) {
      const value = this.request.labels[key]!;
      // Quoted with $ escaped, so the value is taken as given, as the classic builder takes it.
      const quoted = `"${value.replace(/[\\"$]/g, '\\$&')}"`;
      instructions.push({ keyword: 'LABEL', flags: {}, args: `${key}=${quoted}`, original: `LABEL ${key}=${value}`, line: 0 });
    }

    this.context = await readContext(this.request.context);
    const total = instructions.length;
    for (const [index, instruction] of instructions.entries()) {
      this.checkAbort();
      this.step = { number: index + 1, text: instruction.original };
      this.say(`Step ${index + 1}/${total} : ${instruction.original}\n`);
      await this.dispatch(instruction);
    }

    const unused = Object.keys(this.request.buildArgs).filter((name) => !this.usedArgs.has(name) && !BUILTIN_ARGS.has(name));
    if (unused.length > 0) this.say(`[Warning] One or more build-args [${unused.sort().join(' ')}] were not consumed\n`);

    const imageId = this.stage!.imageId;
    this.send({ aux: { ID: imageId } });
    if (this.request.quiet) this.send({ stream: `${imageId}\n` });
    this.say(`Successfully built ${short(imageId)}\n`);
    return imageId;
  }

  private async tag(imageId: string): Promise<void> {
    for (const tag of this.request.tags) {
      const at = tag.lastIndexOf(':');
      const hasTag = at > tag.lastIndexOf('/');
      await this.docker.getImage(imageId).tag({ repo: hasTag ? tag.slice(0, at) : tag, tag: hasTag ? tag.slice(at + 1) : 'latest' });
      this.say(`Successfully tagged ${(this.request.showTag ?? ((value) => value))(hasTag ? tag : `${tag}:latest`)}\n`);
    }
  }

  private async dispatch(instruction: Instruction): Promise<void> {
    const { keyword } = instruction;
    if (keyword === 'FROM') return this.from(instruction);
    if (keyword === 'ARG' && !this.stage) return this.globalArg(instruction);

    const stage = this.stage!;
    const step = this.plan(instruction, stage);
    await this.commitStep(stage, step);
  }

  // ---- FROM and ARG ----------------------------------------------------------------------

  private async from(instruction: Instruction): Promise<void> {
    const globals = this.argValues(this.globalArgs);
    const words = expandWords(instruction.args, globals);
    const [image = '', as, alias] = words;
    if (!image || (as !== undefined && (as.toLowerCase() !== 'as' || !alias)) || words.length > 3) {
      throw new BuildFailure(`FROM requires either one or three arguments: ${instruction.original}`);
    }

    const earlier = this.stages.find((stage) => stage.name !== undefined && stage.name === image.toLowerCase());
    let stage: Stage;
    if (earlier) {
      stage = { ...earlier, name: undefined, config: structuredClone(earlier.config), args: new Map(), cmdSet: false };
    } else if (image.toLowerCase() === 'scratch') {
      const imageId = await loadScratchImage(this.docker, this.stepLabels);
      stage = { imageId, config: {}, sizeBytes: 0, args: new Map(), cmdSet: false };
    } else {
      const info = await this.inspectImage(image);
      if (!info) throw new BuildFailure(`the image ${image} is not on this lab server, and builds never pull images`);
      if ((info.Config?.OnBuild ?? []).length > 0) throw new BuildFailure(`the image ${image} has ONBUILD triggers, which this lab server's builder does not run`);
      stage = { imageId: info.Id, config: pickConfig(info.Config), sizeBytes: info.Size, args: new Map(), cmdSet: false };
    }
    if (image.toLowerCase() !== 'scratch') this.say(` ---> ${short(stage.imageId)}\n`);

    stage.name = alias?.toLowerCase();
    this.stages.push(stage);
    this.stage = stage;
  }

  private globalArg(instruction: Instruction): void {
    for (const { key, value } of splitPairs(instruction.args)) {
      const name = expandWord(key, {});
      const fallback = value === undefined ? undefined : expandWord(value, this.argValues(this.globalArgs));
      this.globalArgs.set(name, fallback);
      if (this.request.buildArgs[name] !== undefined) this.usedArgs.add(name);
    }
  }

  /** Returns the values of declared build arguments: passed ones first, then defaults. */
  private argValues(declared: Map<string, string | undefined>): Record<string, string> {
    const values: Record<string, string> = {};
    for (const [name, fallback] of declared) {
      const value = this.request.buildArgs[name] ?? fallback;
      if (value !== undefined) values[name] = value;
    }
    return values;
  }

  private variables(stage: Stage): Variables {
    return { ...this.argValues(stage.args), ...envMap(stage.config.Env) };
  }

  // ---- planning one step -------------------------------------------------------------

  private plan(instruction: Instruction, stage: Stage): Step {
    const { keyword, args } = instruction;
    const config = structuredClone(stage.config);
    const shell = config.Shell && config.Shell.length > 0 ? config.Shell : DEFAULT_SHELL;
    const nop = (message: string): Step => ({ cmd: [...shell, '#(nop) ', message], config });
    const variables = this.variables(stage);

    if (instruction.flags.mount !== undefined || instruction.flags.network !== undefined || instruction.flags.security !== undefined) {
      throw new BuildFailure(`${keyword} --${Object.keys(instruction.flags)[0]} needs BuildKit, which this lab server does not use: ${instruction.original}`);
    }

    switch (keyword) {
      case 'RUN':
        return this.planRun(args, stage, config, shell);
      case 'COPY':
      case 'ADD':
        return this.planCopy(instruction, stage, config, shell, variables);
      case 'WORKDIR': {
        const dir = path.posix.resolve(config.WorkingDir || '/', expandWord(args, variables));
        config.WorkingDir = dir;
        return {
          cmd: [...shell, `#(nop) WORKDIR ${dir}`],
          config,
          act: async (container) => {
            if (!(await statPath(container, dir))) await container.putArchive(packItems([{ header: dirHeader(dir.slice(1), { uid: 0, gid: 0 }) }]), { path: '/' });
          },
        };
      }
      case 'ENV': {
        const pairs = splitPairs(args).map(({ key, value }) => [expandWord(key, variables), expandWord(value ?? '', variables)] as const);
        if (pairs.length === 0) throw new BuildFailure('ENV requires at least one argument');
        for (const [key, value] of pairs) config.Env = setEnv(config.Env ?? [], key, value);
        return nop(`ENV ${pairs.map(([key, value]) => `${key}=${value}`).join(' ')}`);
      }
      case 'LABEL': {
        const pairs = splitPairs(args).map(({ key, value }) => [expandWord(key, variables), expandWord(value ?? '', variables)] as const);
        if (pairs.length === 0) throw new BuildFailure('LABEL requires at least one argument');
        config.Labels = { ...(config.Labels ?? {}), ...Object.fromEntries(pairs) };
        return nop(`LABEL ${pairs.map(([key, value]) => `${key}=${value}`).join(' ')}`);
      }
      case 'ARG': {
        const parts: string[] = [];
        for (const { key, value } of splitPairs(args)) {
          const name = expandWord(key, variables);
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new BuildFailure(`ARG names must be letters, digits and underscores: ${instruction.original}`);
          const fallback = value === undefined ? this.argValues(this.globalArgs)[name] : expandWord(value, variables);
          stage.args.set(name, fallback);
          if (this.request.buildArgs[name] !== undefined) this.usedArgs.add(name);
          parts.push(value === undefined ? name : `${name}=${fallback}`);
        }
        return nop(`ARG ${parts.join(' ')}`);
      }
      case 'USER': {
        config.User = expandWord(args, variables);
        return nop(`USER ${config.User}`);
      }
      case 'EXPOSE': {
        const ports = expandWords(args, variables);
        config.ExposedPorts = { ...(config.ExposedPorts ?? {}) };
        for (const port of ports) for (const key of portKeys(port)) config.ExposedPorts[key] = {};
        return nop(`EXPOSE ${ports.join(' ')}`);
      }
      case 'CMD': {
        config.Cmd = jsonArray(args) ?? [...shell, args];
        stage.cmdSet = true;
        return nop(`CMD ${quoteList(config.Cmd)}`);
      }
      case 'ENTRYPOINT': {
        config.Entrypoint = jsonArray(args) ?? [...shell, args];
        if (!stage.cmdSet) config.Cmd = null;
        return nop(`ENTRYPOINT ${quoteList(config.Entrypoint)}`);
      }
      case 'SHELL': {
        const list = jsonArray(args);
        if (!list || list.length === 0) throw new BuildFailure('SHELL requires the arguments to be in JSON form');
        config.Shell = list;
        return nop(`SHELL [${list.join(' ')}]`);
      }
      case 'STOPSIGNAL': {
        config.StopSignal = expandWord(args, variables);
        return nop(`STOPSIGNAL ${config.StopSignal}`);
      }
      case 'VOLUME': {
        const list = jsonArray(args) ?? expandWords(args, variables);
        config.Volumes = { ...(config.Volumes ?? {}), ...Object.fromEntries(list.map((volume) => [volume, {}])) };
        return nop(`VOLUME [${list.join(' ')}]`);
      }
      case 'HEALTHCHECK':
        config.Healthcheck = parseHealthcheck(instruction);
        return nop(healthcheckText(config.Healthcheck));
      default:
        throw new BuildFailure(`the instruction ${keyword || instruction.original} is not supported by this lab server's builder`);
    }
  }

  private planRun(args: string, stage: Stage, config: ImageConfig, shell: string[]): Step {
    const command = jsonArray(args) ?? [...shell, args];
    const env = envMap(config.Env);
    const buildEnv = Object.entries(this.argValues(stage.args))
      .filter(([name]) => env[name] === undefined && (!BUILTIN_ARGS.has(name) || stage.args.has(name)))
      .map(([name, value]) => `${name}=${value}`)
      .sort();

    if (buildEnv.length === 0) return { cmd: command, config, run: { commandText: command.join(' ') } };
    return {
      cmd: [`|${buildEnv.length}`, ...buildEnv, ...command],
      config,
      run: { entrypoint: ['/bin/sh', '-c', ARGS_WRAPPER, String(buildEnv.length)], commandText: command.join(' ') },
    };
  }

  private planCopy(instruction: Instruction, stage: Stage, config: ImageConfig, shell: string[], variables: Variables): Step {
    const { keyword, flags } = instruction;
    const unknown = Object.keys(flags).filter((flag) => flag !== 'from' && flag !== 'chown');
    if (unknown.length > 0) throw new BuildFailure(`${keyword} --${unknown[0]} is not supported by this lab server's builder`);

    const words = jsonArray(instruction.args) ?? expandWords(instruction.args, variables);
    if (words.length < 2) throw new BuildFailure(`${keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`);
    const sources = words.slice(0, -1);
    const written = words.at(-1)!;
    const destination = path.posix.resolve(config.WorkingDir || '/', written);
    const endsInSlash = written.endsWith('/') || written === '.';
    const chown = flags.chown ? expandWord(flags.chown, variables) : undefined;
    const chownText = chown ? `--chown=${chown} ` : '';

    if (flags.from !== undefined) {
      const from = expandWord(flags.from, variables);
      const source = this.sourceImage(from);
      const hash = createHash('sha256').update(`${source}\0${sources.join('\0')}`).digest('hex');
      const kind = sources.length > 1 ? 'multi' : 'dir';
      return {
        cmd: [...shell, `#(nop) ${keyword} ${chownText}${kind}:${hash} in ${written} `],
        config,
        extra: hash,
        act: (container) => this.copyFrom(container, { source, sources, destination, endsInSlash, chown }),
      };
    }

    const context = this.context!;
    const selections = selectSources(context, sources, keyword);
    const hash = hashSelections(selections);
    let kind = selections[0]!.isDirectory ? 'dir' : 'file';
    if (selections.length > 1) kind = 'multi';
    return {
      cmd: [...shell, `#(nop) ${keyword} ${chownText}${kind}:${hash} in ${written} `],
      config,
      extra: hash,
      act: async (container) => {
        const owner = chown ? await resolveOwner(container, chown) : { uid: 0, gid: 0 };
        const existing = await statPath(container, destination);
        const intoFolder = endsInSlash || selections.length > 1 || selections[0]!.isDirectory || existing === 'directory';

        let items: ArchiveItem[] = [];
        const single = selections.length === 1 && !selections[0]!.isDirectory ? selections[0]!.entries[0]! : undefined;
        const unpacked = keyword === 'ADD' && single ? await archiveItems(single, destination, chown ? owner : undefined) : undefined;
        if (unpacked) items = unpacked;
        else {
          items = copyItems(selections, destination, intoFolder, owner);
          if (intoFolder && !existing && destination !== '/') items.unshift({ header: dirHeader(destination.slice(1), owner) });
        }
        this.checkRoom(itemBytes(items));
        if (items.length > 0) await container.putArchive(packItems(items), { path: '/' });
      },
    };
  }

  /** Returns the image that COPY --from names: an earlier stage by name or number, or an image. */
  private sourceImage(from: string): string {
    const byIndex = /^\d+$/.test(from) ? this.stages[Number(from)] : undefined;
    const byName = this.stages.find((stage) => stage.name === from.toLowerCase());
    const stage = byIndex ?? byName;
    if (stage) return stage.imageId;
    if (/^\d+$/.test(from)) throw new BuildFailure(`COPY --from=${from}: there is no earlier stage with that number`);
    return from;
  }

  private async copyFrom(
    container: Docker.Container,
    copy: { source: string; sources: string[]; destination: string; endsInSlash: boolean; chown: string | undefined },
  ): Promise<void> {
    if (!(await this.inspectImage(copy.source))) throw new BuildFailure(`COPY --from: the image ${copy.source} is not on this lab server`);
    const owner = copy.chown ? await resolveOwner(container, copy.chown) : undefined;
    const source = await this.createContainer(copy.source, ['#(nop) COPY source'], {}, undefined, 'none');

    try {
      for (const sourcePath of copy.sources.map((item) => path.posix.resolve('/', item))) {
        const kind = await statPath(source, sourcePath);
        if (!kind) throw new BuildFailure(`COPY failed: stat ${sourcePath}: file does not exist in the source stage or image`);
        const existing = await statPath(container, copy.destination);
        const intoFolder = copy.endsInSlash || copy.sources.length > 1 || existing === 'directory';
        const bytes = await copyFromContainer({
          source,
          sourcePath,
          sourceIsDirectory: kind === 'directory',
          target: container,
          destination: copy.destination,
          intoFolder: kind === 'directory' || intoFolder,
          destinationExists: existing !== undefined,
          owner,
          limitBytes: this.request.limits.diskBytes - this.addedBytes,
          signal: this.abort.signal,
        }).catch((error: unknown) => {
          if (error instanceof CopyTooLargeError) throw this.diskFailure(`COPY --from`);
          throw error;
        });
        this.checkRoom(bytes);
      }
    } finally {
      await this.removeStepContainer(source);
    }
  }

  // ---- running and committing one step ---------------------------------------------------

  private async commitStep(stage: Stage, step: Step): Promise<void> {
    // A commit fills an empty entrypoint from the container's, so an empty list keeps the
    // build-argument wrapper out of the image.
    // NOTE: a commit also fills an empty Cmd from the container's, so a step image with neither
    // CMD nor ENTRYPOINT (a scratch stage before its CMD) gets the step's history line as Cmd.
    let entrypoint: string[] | null = step.run?.entrypoint ? [] : null;
    if (step.config.Entrypoint && step.config.Entrypoint.length > 0) entrypoint = step.config.Entrypoint;
    const commitConfig: ImageConfig = { ...step.config, Labels: { ...(step.config.Labels ?? {}), ...this.stepLabels }, Entrypoint: entrypoint };
    const key = cacheKey(this.request.owner.sessionId, stage.imageId, step, commitConfig);

    if (!this.request.noCache) {
      const hit = await this.cachedImage(key, stage.imageId);
      if (hit) {
        this.say(` ---> Using cache\n ---> ${short(hit.Id)}\n`);
        this.advance(stage, hit.Id, step.config, hit.Size);
        return;
      }
    }

    const container = await this.createContainer(stage.imageId, step.cmd, step.config, step.run?.entrypoint, step.run ? this.request.network : 'none');
    this.say(` ---> Running in ${short(container.id)}\n`);
    try {
      if (step.act) await step.act(container);
      if (step.run) await this.runStep(container, step.run.commandText);
      this.checkAbort();
      const imageId = await commitContainer(container, commitConfig);
      this.created.push(imageId);
      this.builder.remember(key, imageId);

      const info = await this.docker.getImage(imageId).inspect();
      this.charge(Math.max(0, info.Size - stage.sizeBytes));
      await this.removeStepContainer(container);
      this.say(`Removing intermediate container ${short(container.id)}\n ---> ${short(imageId)}\n`);
      this.advance(stage, imageId, step.config, info.Size);
    } finally {
      await this.removeStepContainer(container);
    }
  }

  private advance(stage: Stage, imageId: string, config: ImageConfig, sizeBytes: number): void {
    stage.imageId = imageId;
    stage.config = config;
    stage.sizeBytes = sizeBytes;
  }

  private async runStep(container: Docker.Container, commandText: string): Promise<void> {
    const outcome = await runStepContainer(this.docker, container, {
      onOutput: (text) => this.say(text),
      signal: this.abort.signal,
      diskBytes: this.request.limits.diskBytes - this.addedBytes,
      pollMs: this.builder.interval,
    });
    if ('stopped' in outcome) {
      if (outcome.stopped === 'disk') throw this.diskFailure(`The command '${commandText}'`);
      throw new BuildFailure('the build was stopped');
    }
    if (outcome.exitCode !== 0) throw new BuildFailure(`The command '${commandText}' returned a non-zero code: ${outcome.exitCode}`, outcome.exitCode);
  }

  private diskFailure(what: string): BuildFailure {
    const mib = Math.floor(this.request.limits.diskBytes / 1024 / 1024);
    return new BuildFailure(`${what} was stopped: the build wrote more than its disk quota of ${mib} MiB. Write less in the build, or remove files in the same step that makes them.`);
  }

  /** Fails the step when it would write more than the build has left of its quota. */
  private checkRoom(bytes: number): void {
    if (this.addedBytes + bytes > this.request.limits.diskBytes) throw this.diskFailure('This step');
  }

  /** Counts bytes the build added; past the quota the build fails. */
  private charge(bytes: number): void {
    this.addedBytes += bytes;
    if (this.addedBytes > this.request.limits.diskBytes) throw this.diskFailure('This step');
  }

  private async createContainer(image: string, cmd: string[], config: ImageConfig, entrypoint: string[] | undefined, network: string): Promise<Docker.Container> {
    const storageQuota = await this.builder.quota(image, this.containerLabels);
    const container = await createStepContainer(this.docker, {
      image,
      config,
      cmd,
      entrypoint,
      labels: this.containerLabels,
      limits: this.request.limits,
      network,
      storageQuota,
    });
    this.containers.add(container);
    return container;
  }

  private async removeStepContainer(container: Docker.Container): Promise<void> {
    if (!this.containers.has(container)) return;
    await removeContainer(container);
    this.containers.delete(container);
  }

  private async cachedImage(key: string, parent: string): Promise<{ Id: string; Size: number } | undefined> {
    const imageId = this.builder.cached(key);
    if (!imageId) return undefined;
    const info = await this.inspectImage(imageId);
    if (!info || info.Parent !== parent || info.Config?.Labels?.[LABELS.session] !== this.request.owner.sessionId) {
      this.builder.forgetImage(imageId);
      return undefined;
    }
    return info;
  }

  private async inspectImage(ref: string): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      return await this.docker.getImage(ref).inspect();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Removes the step images of a failed build, newest first; the engine keeps any still in use. */
  private async removeCreated(): Promise<void> {
    for (const imageId of [...this.created].reverse()) {
      this.builder.forgetImage(imageId);
      await this.docker
        .getImage(imageId)
        .remove({ noprune: true })
        .catch(() => undefined);
    }
  }
}

// ---- helpers ----------------------------------------------------------------------------

function short(imageId: string): string {
  return imageId.replace(/^sha256:/, '').slice(0, 12);
}

function pickConfig(config: Docker.ImageInspectInfo['Config'] | undefined): ImageConfig {
  const source = (config ?? {}) as ImageConfig & Record<string, unknown>;
  const picked: ImageConfig = {};
  for (const key of ['User', 'Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'Labels', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck', 'Shell'] as const) {
    if (source[key] !== undefined && source[key] !== null && source[key] !== '') (picked as Record<string, unknown>)[key] = structuredClone(source[key]);
  }
  return picked;
}

function envMap(env: readonly string[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const item of env ?? []) {
    const at = item.indexOf('=');
    if (at > 0) map[item.slice(0, at)] = item.slice(at + 1);
  }
  return map;
}

function setEnv(env: string[], key: string, value: string): string[] {
  const entry = `${key}=${value}`;
  const index = env.findIndex((item) => item.split('=')[0] === key);
  if (index < 0) return [...env, entry];
  const copy = [...env];
  copy[index] = entry;
  return copy;
}

function portKeys(port: string): string[] {
  const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(port);
  if (!match) throw new BuildFailure(`invalid containerPort: ${port}`);
  const first = Number(match[1]);
  const last = Number(match[2] ?? match[1]);
  const protocol = (match[3] ?? 'tcp').toLowerCase();
  if (last < first || last - first > 1000) throw new BuildFailure(`invalid port range: ${port}`);
  return Array.from({ length: last - first + 1 }, (_, offset) => `${first + offset}/${protocol}`);
}

function parseHealthcheck(instruction: Instruction): NonNullable<ImageConfig['Healthcheck']> {
  const { args, flags } = instruction;
  const [type = ''] = args.split(/\s+/);
  if (type.toUpperCase() === 'NONE') return { Test: ['NONE'] };
  if (type.toUpperCase() !== 'CMD') throw new BuildFailure(`HEALTHCHECK needs CMD or NONE: ${instruction.original}`);

  const command = args.slice(type.length).trim();
  const list = jsonArray(command);
  const duration = (name: string) => {
    if (flags[name] === undefined) return 0;
    const value = parseGoDuration(flags[name]!);
    if (value === undefined) throw new BuildFailure(`HEALTHCHECK --${name}: "${flags[name]}" is not a duration such as 30s`);
    return value;
  };
  return {
    Test: list ? ['CMD', ...list] : ['CMD-SHELL', command],
    Interval: duration('interval'),
    Timeout: duration('timeout'),
    StartPeriod: duration('start-period'),
    Retries: flags.retries === undefined ? 0 : Number(flags.retries),
  };
}

function dirHeader(name: string, owner: Owner) {
  return { name, type: 'directory' as const, mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: new Date(), size: 0, linkname: '', uname: '', gname: '', devmajor: 0, devminor: 0 };
}

function cacheKey(sessionId: string, parent: string, step: Step, config: ImageConfig): string {
  const hash = createHash('sha256').update(JSON.stringify({ parent, cmd: step.cmd, config, extra: step.extra ?? '' })).digest('hex');
  return `${sessionId}\0${hash}`;
}

/** Resolves `user[:group]` by name or number through the image's /etc/passwd and /etc/group. */
async function resolveOwner(container: Docker.Container, chown: string): Promise<Owner> {
  const [user = '', group = user] = chown.split(':');
  const passwd = await readEtc(container, '/etc/passwd');
  const groups = await readEtc(container, '/etc/group');

  const uid = /^\d+$/.test(user) ? Number(user) : passwd.find((fields) => fields[0] === user)?.[2];
  if (uid === undefined) throw new BuildFailure(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${user}: no such user: ${user}`);
  const gid = /^\d+$/.test(group) ? Number(group) : groups.find((fields) => fields[0] === group)?.[2];
  if (gid === undefined) throw new BuildFailure(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${group}: no such group: ${group}`);
  return { uid: Number(uid), gid: Number(gid) };
}

async function readEtc(container: Docker.Container, file: string): Promise<string[][]> {
  let archive: NodeJS.ReadableStream;
  try {
    archive = await container.getArchive({ path: file });
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
  const entries = await readTar(await readAll(archive, 4 * 1024 * 1024));
  const text = entries.find((entry) => entry.header.type === 'file')?.data.toString('utf8') ?? '';
  return text.split('\n').map((line) => line.split(':'));
}

/** Creates, never starts, a container with a size quota: an engine without quotas refuses it. */
async function probeStorageQuota(docker: Docker, image: string, labels: Record<string, string>): Promise<boolean> {
  const info = (await docker.info()) as { Driver?: string; DriverStatus?: [string, string][] };
  const backing = info.DriverStatus?.find(([key]) => key === 'Backing Filesystem')?.[1];
  if (info.Driver !== 'overlay2' || backing !== 'xfs') return false;
  try {
    const container = await docker.createContainer({ Image: image, Labels: labels, HostConfig: { StorageOpt: { size: '64M' } } });
    await container.remove({ force: true });
    return true;
  } catch {
    return false;
  }
}
