// Builds the teaching images in dependency order, skipping each one whose source hash label
// matches its folder, build arguments and parent, then writes the layer report.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pack } from 'tar-fs';

import { LABELS, managedLabels } from '../sandbox/labels.ts';
import { openImageEngine } from '../sandbox/images.ts';
import type { ImageEngine } from '../sandbox/images.ts';
import {
  DEFAULT_RELEASE,
  IMAGE_NAMES,
  IMAGE_SPECS,
  buildArgs,
  imageTag,
  withPrerequisites,
} from './catalog.ts';
import type { DebianRelease, ImageName } from './catalog.ts';
import { LAYER_REPORT_PATH, collectReport, writeLayerReport } from './layer-report.ts';
import type { BuildResult, LayerReport } from './layer-report.ts';
import { sourceHash } from './source-hash.ts';

export type { LayerReport } from './layer-report.ts';

export interface EnsureImagesOptions {
  /** Images to make sure of; their prerequisites are added. Default: every image. */
  names?: ImageName[];
  release?: DebianRelease;
  onProgress?: (line: string) => void;
  /** Rebuild the requested images (every image when names is unset) without the build cache. */
  force?: boolean;
  /** The engine to build on; tests may pass their own. */
  engine?: ImageEngine;
  /** Path of the report file; default src/generated/layer-report.json in the repository. */
  reportPath?: string;
}

const REPOSITORY_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The folder that contains one build context per image. */
export const IMAGES_FOLDER = join(REPOSITORY_ROOT, 'images');

/** Builds what is missing or out of date, in dependency order, and writes the layer report. */
export async function ensureImages(options: EnsureImagesOptions = {}): Promise<LayerReport> {
  const release = options.release ?? DEFAULT_RELEASE;
  const onProgress = options.onProgress ?? (() => {});
  const engine = options.engine ?? openImageEngine();
  await engine.ping();

  const debian = await engine.ensureDebianSlim(release, (line) =>
    onProgress(`[debian-slim] ${line}`),
  );
  const parentIds = new Map<string, string>([['debian', debian.id]]);

  // Prerequisites are only brought up to date: forcing base because a child was named would
  // change its id and so make every other image out of date too.
  const requested = new Set(options.names ?? IMAGE_NAMES);
  const results: BuildResult[] = [];
  for (const name of withPrerequisites([...requested])) {
    const force = (options.force ?? false) && requested.has(name);
    results.push(await ensureImage(engine, name, release, parentIds, force, onProgress));
  }

  if (results.some((result) => result.action === 'built')) {
    const freed = await engine.pruneDangling();
    onProgress(`removed the images these builds replaced (${Math.round(freed / 1e6)} MB freed)`);
  }

  const report = await collectReport(engine, { release, results });
  await writeLayerReport(options.reportPath ?? join(REPOSITORY_ROOT, LAYER_REPORT_PATH), report);
  onProgress(`layer report written for ${report.images.length} images`);

  return report;
}

async function ensureImage(
  engine: ImageEngine,
  name: ImageName,
  release: DebianRelease,
  parentIds: Map<string, string>,
  force: boolean,
  onProgress: (line: string) => void,
): Promise<BuildResult> {
  const started = performance.now();
  const tag = imageTag(name, release);
  const folder = join(IMAGES_FOLDER, IMAGE_SPECS[name].folder);
  const args = await declaredBuildArgs(folder, buildArgs(name, release));

  const parentId = parentIds.get(IMAGE_SPECS[name].parent);
  if (!parentId) throw new Error(`parent of ${name} was not ensured first`);
  const hash = await sourceHash({ folder, buildArgs: args, parentId });

  const existing = await engine.inspect(tag);
  if (existing && existing.labels[LABELS.sourceHash] === hash && !force) {
    onProgress(`[${name}] ${tag} is up to date`);
    parentIds.set(name, existing.id);
    return { name, tag, action: 'up-to-date', seconds: secondsSince(started) };
  }

  onProgress(`[${name}] building ${tag}${existing ? ' (its sources changed)' : ''}`);
  const id = await engine.build({
    tag,
    context: Readable.from(pack(folder)),
    buildArgs: args,
    labels: {
      ...managedLabels({ kind: 'image' }),
      [LABELS.image]: name,
      [LABELS.sourceHash]: hash,
    },
    noCache: force,
    onLine: (line) => onProgress(`[${name}] ${line}`),
  });
  parentIds.set(name, id);

  const seconds = secondsSince(started);
  onProgress(`[${name}] built ${tag} in ${seconds} s`);
  return { name, tag, action: 'built', seconds };
}

/** Keeps only the build arguments the Dockerfile declares, so the builder warns about none. */
async function declaredBuildArgs(
  folder: string,
  available: Record<string, string>,
): Promise<Record<string, string>> {
  const dockerfile = await readFile(join(folder, 'Dockerfile'), 'utf8');
  const declared = new Set(
    [...dockerfile.matchAll(/^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)/gm)].map((m) => m[1]),
  );

  return Object.fromEntries(Object.entries(available).filter(([key]) => declared.has(key)));
}

function secondsSince(started: number): number {
  return Math.round((performance.now() - started) / 100) / 10;
}
