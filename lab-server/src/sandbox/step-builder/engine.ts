// The engine calls of a step build: a hardened container per step, its run with output, a disk
// watch and a kill, its commit with the image settings as the body, and the archives that COPY
// reads and writes. Image lookups and the probe for a storage quota are here too. Every container
// here carries the session's labels and is removed by the builder once its step ends.
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';

import { isNotFound } from '../image-stream.ts';
import { BUILD_STEP_CAPABILITIES } from '../policy.ts';

/** The image settings the Dockerfile builds up, in the engine's field names. */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object> | null;
  Volumes?: Record<string, object> | null;
  StopSignal?: string;
  Healthcheck?: {
    Test?: string[];
    Interval?: number;
    Timeout?: number;
    StartPeriod?: number;
    Retries?: number;
  } | null;
  Shell?: string[] | null;
  OnBuild?: string[] | null;
  ArgsEscaped?: boolean;
}

export interface StepLimits {
  memoryBytes: number;
  nanoCpus: number;
  pids: number;
  /** The session's disk quota: bytes its images may hold in all; a step that writes past it is stopped. */
  diskBytes: number;
}

export interface StepContainerSpec {
  image: string;
  config: ImageConfig;
  /** The container's Cmd, which the history shows as CreatedBy. */
  cmd: string[];
  entrypoint?: string[];
  labels: Record<string, string>;
  limits: StepLimits;
  /** `none`, or the name of the network RUN steps use. */
  network: string;
  /** The engine caps the writable layer itself (overlay2 on xfs with pquota). */
  storageQuota: boolean;
}

const NOFILE = { Name: 'nofile', Soft: 4096, Hard: 8192 };
const LOGS = { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } };

/**
 * Creates, never starts, a step container: its settings are the image's, so a commit adds none
 * of its own, and it gets the sandboxes' hardening.
 */
export async function createStepContainer(
  docker: Docker,
  spec: StepContainerSpec,
): Promise<Docker.Container> {
  const { config, limits } = spec;
  return docker.createContainer({
    Image: spec.image,
    Cmd: spec.cmd,
    // The engine reads [""] as "no entrypoint", where null would inherit the image's.
    Entrypoint: spec.entrypoint ?? [''],
    Env: config.Env ?? [],
    User: config.User ?? '',
    WorkingDir: config.WorkingDir ?? '',
    ExposedPorts: config.ExposedPorts ?? undefined,
    Volumes: config.Volumes ?? undefined,
    StopSignal: config.StopSignal || undefined,
    Shell: config.Shell ?? undefined,
    // A step runs no health check. "NONE" is set only where the image has a check, because a
    // commit copies the container's check into an image that has none.
    Healthcheck: config.Healthcheck ? { Test: ['NONE'] } : undefined,
    Labels: spec.labels,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    HostConfig: {
      NetworkMode: spec.network,
      Privileged: false,
      PublishAllPorts: false,
      CapDrop: ['ALL'],
      CapAdd: [...BUILD_STEP_CAPABILITIES],
      SecurityOpt: ['no-new-privileges:true'],
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      NanoCpus: limits.nanoCpus,
      PidsLimit: limits.pids,
      Ulimits: [NOFILE],
      StorageOpt: spec.storageQuota ? { size: String(limits.diskBytes) } : undefined,
      LogConfig: LOGS,
      RestartPolicy: { Name: 'no' },
    },
  } as Docker.ContainerCreateOptions);
}

export type RunOutcome = { exitCode: number } | { stopped: 'disk' | 'aborted' };

export interface RunOptions {
  onOutput: (text: string) => void;
  signal: AbortSignal;
  /** Bytes the container may write before it is stopped. */
  diskBytes: number;
  pollMs: number;
}

/** Starts the container, streams its output and waits for it; stops it past its disk bytes or on abort. */
export async function runStepContainer(
  docker: Docker,
  container: Docker.Container,
  options: RunOptions,
): Promise<RunOutcome> {
  const attached = (await container.attach({
    stream: true,
    stdout: true,
    stderr: true,
  })) as NodeJS.ReadableStream;
  const output = new PassThrough();
  output.on('data', (chunk: Buffer) => options.onOutput(chunk.toString('utf8')));
  docker.modem.demuxStream(attached, output, output);
  const ended = new Promise<void>((resolve) => {
    attached.once('end', resolve);
    attached.once('close', resolve);
    attached.once('error', () => resolve());
  });

  let stopped: 'disk' | 'aborted' | undefined;
  const stop = (reason: 'disk' | 'aborted') => {
    stopped ??= reason;
    void container.kill().catch(() => undefined);
  };
  const onAbort = () => stop('aborted');
  options.signal.addEventListener('abort', onAbort);

  let polling = false;
  const poll = setInterval(() => {
    if (polling) return;
    polling = true;
    (container.inspect({ size: true } as never) as unknown as Promise<{ SizeRw?: number }>)
      .then((info) => {
        if ((info.SizeRw ?? 0) > options.diskBytes) stop('disk');
      })
      .catch(() => undefined)
      .finally(() => {
        polling = false;
      });
  }, options.pollMs);

  try {
    if (options.signal.aborted) return { stopped: 'aborted' };
    await container.start();
    const result = (await container.wait()) as { StatusCode: number };
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    if (stopped) return { stopped };
    return { exitCode: result.StatusCode };
  } finally {
    clearInterval(poll);
    options.signal.removeEventListener('abort', onAbort);
    (attached as Readable).destroy?.();
  }
}

/** Commits the container with the settings as the image's; returns the new image's id. */
export async function commitContainer(
  container: Docker.Container,
  config: ImageConfig,
): Promise<string> {
  const reply = (await container.commit({
    _query: { container: container.id },
    _body: config,
  } as never)) as unknown as { Id: string };
  return reply.Id;
}

/** Removes a container, counting one already gone as removed. */
export async function removeContainer(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== 404 && status !== 409) throw error;
  }
}

/** Returns the path's kind in the container, or undefined when it does not exist. */
export async function statPath(
  container: Docker.Container,
  path: string,
): Promise<'directory' | 'other' | undefined> {
  try {
    const reply = (await container.infoArchive({ path })) as {
      headers?: Record<string, string>;
      resume?: () => void;
    };
    reply.resume?.();
    const stat = reply.headers?.['x-docker-container-path-stat'];
    const mode = stat
      ? (JSON.parse(Buffer.from(stat, 'base64').toString('utf8')) as { mode?: number }).mode
      : undefined;
    // The stat's mode is Go's os.FileMode, whose directory bit is bit 31.
    return typeof mode === 'number' && mode >= 2 ** 31 ? 'directory' : 'other';
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Reads a whole stream into memory, up to `limit` bytes. */
export async function readAll(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error(`more than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Loads an image with no layer and no settings but the labels, for `FROM scratch`: a container
 * of it commits the first layer of its own, as the classic builder's scratch stage does.
 */
export async function loadScratchImage(
  docker: Docker,
  labels: Record<string, string>,
): Promise<string> {
  const version = (await docker.version()) as { Os?: string; Arch?: string };
  const config = Buffer.from(
    JSON.stringify({
      architecture: version.Arch ?? 'amd64',
      os: version.Os ?? 'linux',
      config: { Labels: labels },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [],
    }),
  );
  const id = createHash('sha256').update(config).digest('hex');
  const manifest = Buffer.from(
    JSON.stringify([{ Config: `${id}.json`, RepoTags: null, Layers: [] }]),
  );

  const packer = pack();
  packer.entry({ name: `${id}.json`, mode: 0o644 }, config);
  packer.entry({ name: 'manifest.json', mode: 0o644 }, manifest);
  packer.finalize();
  const reply = (await docker.loadImage(Readable.from(packer as unknown as AsyncIterable<Buffer>), {
    quiet: true,
  } as never)) as unknown as NodeJS.ReadableStream;
  await readAll(reply, 1024 * 1024);
  return `sha256:${id}`;
}

/** Inspects an image; undefined when the engine does not have it. */
export async function inspectImage(
  docker: Docker,
  ref: string,
): Promise<Docker.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Creates, never starts, a container with a size quota: an engine without quotas refuses it. */
export async function probeStorageQuota(
  docker: Docker,
  image: string,
  labels: Record<string, string>,
): Promise<boolean> {
  const info = (await docker.info()) as { Driver?: string; DriverStatus?: [string, string][] };
  const backing = info.DriverStatus?.find(([key]) => key === 'Backing Filesystem')?.[1];
  if (info.Driver !== 'overlay2' || backing !== 'xfs') return false;
  try {
    const container = await docker.createContainer({
      Image: image,
      Labels: labels,
      HostConfig: { StorageOpt: { size: '64M' } },
    });
    await container.remove({ force: true });
    return true;
  } catch {
    return false;
  }
}
