// The layer report: each image's layers, their sizes and the Dockerfile instruction that made
// them, as `docker history` lists them. The guide imports it from src/generated/.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

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
}

export interface ImageLayers {
  name: ImageName;
  release: DebianRelease;
  tag: string;
  id: string;
  sizeBytes: number;
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
  /** What the call that wrote the report did for each image it was asked for. */
  run: { release: DebianRelease; results: BuildResult[] };
}

/** Where the site build imports the report from, relative to the repository root. */
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

/** Writes the report as formatted JSON, creating its folder. */
export async function writeLayerReport(path: string, report: LayerReport): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
