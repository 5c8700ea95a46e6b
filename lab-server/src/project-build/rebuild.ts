// Restart for a lab project: copies .ddev/config.yaml and .ddev/web-build out of the web
// container, generates the Dockerfile, builds `<image>-<project>-built` and recreates the web
// container from it, as `ddev start` does. A failed build or start leaves the old container running.
// On the engine the tag lives in the session's namespace, as a learner's `docker build -t` does,
// so no session can name another's image and the session's docker command shows DDEV's name.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-fs';

import { sessionNamespace } from '../docker-proxy/refs.ts';
import { DEBIAN_PACKAGE_VERSIONS, type DebianRelease } from '../images/catalog.ts';
import { LABELS, managedLabels } from '../sandbox/labels.ts';
import type {
  BuildLimits,
  ImageLayer,
  ProjectBuildEngine,
} from '../sandbox/project-build-engine.ts';
import { extractFolderArchive, readFileArchive } from './archive.ts';
import { DEFAULT_USER } from './dockerfile.ts';
import { ProjectBuildFailedError, ProjectBuildTimeoutError } from './errors.ts';
import { sourceOfStep } from './instructions.ts';
import { planProjectBuild, type BuildPlan } from './plan.ts';
import { parseProjectConfig, type ProjectConfig } from './project-config.ts';

/** The project root inside the web container, where DDEV mounts the project. */
export const PROJECT_ROOT = '/var/www/html';

const FOLDER_LIMITS = { maxBytes: 32 * 1024 * 1024, maxEntries: 2000 };
const CONFIG_MAX_BYTES = 64 * 1024;

export type RebuildEvent =
  | { type: 'phase'; phase: 'reading' | 'building' | 'recreating'; message: string }
  | { type: 'dockerfile'; text: string; skipped: string[] }
  | { type: 'line'; line: string };

export interface RebuildRequest {
  instance: string;
  sessionId: string;
  labId: string;
  /** The service to recreate; its container contains the project. */
  service: string;
  containerId: string;
  /** Tag of the lab's image for the service, the BASE_IMAGE of the build. */
  baseImage: string;
  release: DebianRelease;
  /** Images a fragment may name in FROM or COPY --from. */
  allowedImages: readonly string[];
  limits: BuildLimits;
  /** Lets RUN steps reach the internet; set from the lab's `projectBuild.egress`. */
  egress: boolean;
  startTimeoutSeconds: number;
  onEvent: (event: RebuildEvent) => void;
}

export interface RebuildResult {
  /** The image's name as DDEV writes it; the engine's tag adds the session's namespace. */
  tag: string;
  imageId: string;
  containerId: string;
  config: ProjectConfig;
  dockerfile: string;
  layers: ImageLayer[];
}

export async function rebuildProject(
  engine: ProjectBuildEngine,
  request: RebuildRequest,
): Promise<RebuildResult> {
  const workspace = await mkdtemp(path.join(tmpdir(), 'ddev-lab-restart-'));
  try {
    const { config, plan } = await prepareBuild(engine, request, workspace);
    request.onEvent({ type: 'dockerfile', text: plan.dockerfile.text, skipped: plan.skipped });

    const tag = builtTag(request, config);
    const imageId = await build(engine, request, plan, { tag, engineTag: engineTag(request, tag) });

    request.onEvent({
      type: 'phase',
      phase: 'recreating',
      message: `Recreating the ${request.service} container from ${tag}`,
    });
    const containerId = await engine.recreateContainer({
      containerId: request.containerId,
      imageId,
      imageName: tag,
      environment: { DDEV_WEBSERVER_TYPE: config.webserverType },
      carryPath: PROJECT_ROOT,
      startTimeoutSeconds: request.startTimeoutSeconds,
      onLine: (line) => request.onEvent({ type: 'line', line }),
    });

    return {
      tag,
      imageId,
      containerId,
      config,
      dockerfile: plan.dockerfile.text,
      layers: await engine.layers(imageId),
    };
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
}

/** Returns the Dockerfile a Restart would build, without building it. */
export async function previewProjectBuild(
  engine: ProjectBuildEngine,
  request: Omit<RebuildRequest, 'limits' | 'egress' | 'startTimeoutSeconds'>,
): Promise<{
  tag: string;
  dockerfile: string;
  skipped: string[];
  contextFiles: string[];
  config: ProjectConfig;
}> {
  const workspace = await mkdtemp(path.join(tmpdir(), 'ddev-lab-preview-'));
  try {
    const { config, plan } = await prepareBuild(engine, request, workspace);
    return {
      tag: builtTag(request, config),
      dockerfile: plan.dockerfile.text,
      skipped: plan.skipped,
      contextFiles: plan.contextFiles,
      config,
    };
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
}

/** Copies the config and the web-build folder out of the container and plans the build. */
async function prepareBuild(
  engine: ProjectBuildEngine,
  request: Omit<RebuildRequest, 'limits' | 'egress' | 'startTimeoutSeconds'>,
  workspace: string,
): Promise<{ config: ProjectConfig; plan: BuildPlan }> {
  request.onEvent({ type: 'phase', phase: 'reading', message: `Reading ${PROJECT_ROOT}/.ddev` });
  const config = await readConfig(engine, request);
  const folder = path.join(workspace, 'web-build');
  const archive = await engine.copyFromContainer(
    request.containerId,
    `${PROJECT_ROOT}/.ddev/web-build`,
  );
  if (archive) await extractFolderArchive(archive, folder, '.ddev/web-build', FOLDER_LIMITS);

  const plan = await planProjectBuild(folder, {
    kind: 'web',
    baseImage: request.baseImage,
    user: DEFAULT_USER,
    phpVersion: config.phpVersion,
    database: `mariadb:${DEBIAN_PACKAGE_VERSIONS[request.release].mariadb}`,
    platform: await engine.platform(),
    extraPackages: config.webimageExtraPackages,
    baseImageUser: await engine.imageUser(request.baseImage),
    allowedImages: request.allowedImages,
  });
  return { config, plan };
}

/** Names the image as DDEV does, `<image>-<project>-built`, the project named by config.yaml or the lab. */
function builtTag(
  request: Pick<RebuildRequest, 'baseImage' | 'labId'>,
  config: ProjectConfig,
): string {
  return `${request.baseImage}-${(config.name ?? request.labId).toLowerCase()}-built`;
}

/**
 * Returns the engine's tag of the built image: DDEV's name in the session's namespace. A shared
 * name would let one session's build name another session's image.
 */
export function engineTag(request: Pick<RebuildRequest, 'sessionId'>, tag: string): string {
  return `${sessionNamespace(request.sessionId)}/${tag}`;
}

async function readConfig(
  engine: ProjectBuildEngine,
  request: Pick<RebuildRequest, 'containerId' | 'release'>,
): Promise<ProjectConfig> {
  const archive = await engine.copyFromContainer(
    request.containerId,
    `${PROJECT_ROOT}/.ddev/config.yaml`,
  );
  if (!archive) return parseProjectConfig('', request.release);

  const text = await readFileArchive(archive, '.ddev/config.yaml', CONFIG_MAX_BYTES);
  return parseProjectConfig(text, request.release);
}

async function build(
  engine: ProjectBuildEngine,
  request: RebuildRequest,
  plan: BuildPlan,
  names: { tag: string; engineTag: string },
): Promise<string> {
  const { tag } = names;
  request.onEvent({ type: 'phase', phase: 'building', message: `Building ${tag}` });
  const allowed = new Set(plan.contextFiles.map((file) => path.join(plan.folder, file)));
  const context = pack(plan.folder, {
    ignore: (name) => !allowed.has(name),
    finalize: false,
    finish: (packer) => {
      packer.entry({ name: 'Dockerfile', mode: 0o644 }, plan.dockerfile.text);
      packer.finalize();
    },
  });

  const result = await engine.buildImage({
    tag: names.engineTag,
    shownTag: tag,
    context: Readable.from(context),
    buildArgs: plan.buildArgs,
    allowedImages: [request.baseImage, ...request.allowedImages],
    labels: {
      ...managedLabels({
        kind: 'image',
        instance: request.instance,
        sessionId: request.sessionId,
        labId: request.labId,
      }),
      [LABELS.service]: request.service,
    },
    limits: request.limits,
    egress: request.egress,
    onLine: (line) => request.onEvent({ type: 'line', line }),
  });

  if (result.ok) return result.imageId;
  if (result.timedOut) throw new ProjectBuildTimeoutError(tag, request.limits.timeoutSeconds);

  const step = result.step;
  const source = step ? sourceOfStep(plan.dockerfile, step.number) : undefined;
  throw new ProjectBuildFailedError(tag, sentence(result.detail), {
    step: step ? `step ${step.number} \`${step.text}\`` : undefined,
    source,
  });
}

function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
