// The layer report: each image's layers, their sizes and the Dockerfile instruction that made
// them, as `docker history` lists them. The guide imports it from src/generated/.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import type { ImageEngine } from '../sandbox/images.ts';
import { DEBIAN_RELEASES, IMAGE_NAMES, debianSlimTag, imageTag } from './catalog.ts';
import type { DebianRelease, ImageName } from './catalog.ts';

export interface LayerEntry {
  /** The instruction as written in a Dockerfile, for example `RUN apt-get update ...`. */
  instruction: string;
  /** The command exactly as the engine recorded it. */
  createdBy: string;
  sizeBytes: number;
  /** ISO 8601 time the layer was made. */
  created: string;
  /** Layers of a parent image have an id; the engine reports `<missing>` for the rest. */
  id: string;
  /** The image whose Dockerfile made the layer: this image, an ancestor, or debian-slim. */
  madeBy: ImageName | 'debian-slim';
}

export interface ImageLayers {
  name: ImageName;
  release: DebianRelease;
  tag: string;
  id: string;
  sizeBytes: number;
  /** Bytes of the layers this image's own Dockerfile made, on top of its parent. */
  addedBytes: number;
  created: string;
  /** Newest first, as `docker history` prints them. */
  layers: LayerEntry[];
}

export interface BuildResult {
  name: ImageName;
  tag: string;
  action: 'built' | 'up-to-date';
  seconds: number;
}

export interface LayerReport {
  generatedAt: string;
  images: ImageLayers[];
  /** The outcome for each image requested by the call that wrote the report. */
  run: { release: DebianRelease; results: BuildResult[] };
}

/** Path of the report file that the site build imports, relative to the repository root. */
export const LAYER_REPORT_PATH = 'src/generated/layer-report.json';

/** Turns an entry of `docker history` into the Dockerfile instruction that made it. */
export function instructionOf(createdBy: string): string {
  const command = createdBy.trim();

  // The classic builder prefixes build arguments in use as `|<count> NAME=value ... `.
  const withoutArgs = command.replace(/^\|\d+(?:\s+[A-Za-z_][A-Za-z0-9_]*=\S*)*\s+/, '');

  const nop = /^\/bin\/sh -c #\(nop\)\s+(.*)$/s.exec(withoutArgs);
  if (nop) return nop[1].trim();

  const shell = /^\/bin\/sh -c (.*)$/s.exec(withoutArgs);
  if (shell) return `RUN ${shell[1].trim()}`;

  return withoutArgs;
}

/** Lists every teaching image present on the engine, for every release, with its layers. */
export async function collectReport(
  engine: ImageEngine,
  run: LayerReport['run'],
): Promise<LayerReport> {
  const images: ImageLayers[] = [];

  for (const release of DEBIAN_RELEASES) {
    const knownImages = await knownImageIds(engine, release);
    for (const name of IMAGE_NAMES) {
      const layers = await describeImage(engine, name, release, knownImages);
      if (layers) images.push(layers);
    }
  }

  return { generatedAt: new Date().toISOString(), images, run };
}

/** Maps the image id of each catalogue image of a release, and of its Debian base, to its name. */
async function knownImageIds(
  engine: ImageEngine,
  release: DebianRelease,
): Promise<Map<string, ImageName | 'debian-slim'>> {
  const known = new Map<string, ImageName | 'debian-slim'>();

  const debian = await engine.inspect(debianSlimTag(release));
  if (debian) known.set(debian.id, 'debian-slim');
  for (const name of IMAGE_NAMES) {
    const summary = await engine.inspect(imageTag(name, release));
    if (summary) known.set(summary.id, name);
  }

  return known;
}

async function describeImage(
  engine: ImageEngine,
  name: ImageName,
  release: DebianRelease,
  knownImages: Map<string, ImageName | 'debian-slim'>,
): Promise<ImageLayers | undefined> {
  const tag = imageTag(name, release);
  const summary = await engine.inspect(tag);
  if (!summary) return undefined;

  const history = await engine.history(tag);
  const makers = attributeLayers(
    history.map((entry) => entry.id),
    name,
    knownImages,
  );
  const layers = history.map((entry, index) => ({
    instruction: instructionOf(entry.createdBy),
    createdBy: entry.createdBy,
    sizeBytes: entry.sizeBytes,
    created: new Date(entry.created * 1000).toISOString(),
    id: entry.id,
    madeBy: makers[index],
  }));
  const addedBytes = layers
    .filter((layer) => layer.madeBy === name)
    .reduce((total, layer) => total + layer.sizeBytes, 0);

  return {
    name,
    release,
    tag,
    id: summary.id,
    sizeBytes: summary.sizeBytes,
    addedBytes,
    created: summary.created,
    layers,
  };
}

/**
 * Names the image that made each history entry, newest first. An entry whose id is a known
 * image's id is that image's top layer, so it and every older entry belong to that image until
 * the next known id.
 */
export function attributeLayers<Name extends string>(
  historyIds: readonly string[],
  self: Name,
  knownImages: ReadonlyMap<string, Name>,
): Name[] {
  let maker = self;

  return historyIds.map((id) => {
    const known = knownImages.get(id);
    if (known !== undefined) maker = known;
    return maker;
  });
}

/**
 * Writes the report as formatted JSON, creating its folder. A report whose images are the same as
 * the file's is not written again: the site build hashes its sources, and a new timestamp alone
 * would make every `npm start` rebuild the site.
 */
export async function writeLayerReport(path: string, report: LayerReport): Promise<void> {
  const existing = await readFile(path, 'utf8').then(
    (text) => JSON.parse(text) as LayerReport,
    () => undefined,
  );
  if (existing && JSON.stringify(existing.images) === JSON.stringify(report.images)) return;

  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
