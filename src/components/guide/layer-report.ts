/*
 * Reads the layer report that `npm run images` writes to
 * src/generated/layer-report.json. Every field is read defensively, because
 * the report's shape may still change, and anything unreadable becomes "unknown".
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ReportLayer {
  sizeBytes: number | undefined;
  createdBy: string;
}

export interface ReportImage {
  name: string;
  /** The Debian release the image was built on, when the report names one. */
  release: string | undefined;
  tag: string;
  sizeBytes: number | undefined;
  created: string | undefined;
  layers: ReportLayer[];
}

export type LoadedReport =
  | { status: 'missing'; path: string }
  | { status: 'invalid'; path: string; reason: string }
  | { status: 'ok'; path: string; images: ReportImage[] };

// NOTE: Astro components have no handle on the project root, and the site is
// always built from it (npm run build), so the path is taken from the cwd.
export const reportPath = join(process.cwd(), 'src', 'generated', 'layer-report.json');

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pickNumber(source: Json, keys: string[]): number | undefined {
  for (const key of keys) {
    const value = source[key];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  }
  return undefined;
}

function pickString(source: Json, keys: string[]): string | undefined {
  for (const key of keys) {
    const value = source[key];
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

/** Shortens `/bin/sh -c #(nop) CMD ...` and the BuildKit `|3 a=b /bin/sh -c` prefixes to the instruction. */
export function cleanInstruction(createdBy: string): string {
  const withoutNop = createdBy.replace(/^\/bin\/sh -c #\(nop\)\s*/, '');
  const withoutArgs = withoutNop.replace(/^\|\d+(\s+\S+=\S*)*\s+/, '');
  return withoutArgs.replace(/^\/bin\/sh -c\s+/, 'RUN ').trim();
}

function normalizeLayer(raw: unknown): ReportLayer {
  if (!isObject(raw)) return { sizeBytes: undefined, createdBy: 'unknown' };

  const instruction = pickString(raw, ['instruction']);
  const createdBy = pickString(raw, ['createdBy', 'CreatedBy', 'created_by', 'command']);
  return {
    sizeBytes: pickNumber(raw, ['sizeBytes', 'size', 'Size', 'bytes']),
    createdBy: instruction ?? (createdBy ? cleanInstruction(createdBy) : 'unknown'),
  };
}

function normalizeImage(name: string, raw: unknown): ReportImage | undefined {
  if (!isObject(raw)) return undefined;
  const layers = Array.isArray(raw.layers) ? raw.layers.map(normalizeLayer) : [];
  return {
    name: pickString(raw, ['name', 'shortName']) ?? name,
    release: pickString(raw, ['release', 'debianRelease']),
    tag: pickString(raw, ['tag', 'image', 'ref', 'reference']) ?? name,
    sizeBytes: pickNumber(raw, ['sizeBytes', 'size', 'Size', 'totalSizeBytes']),
    created: pickString(raw, ['created', 'Created', 'builtAt']),
    layers,
  };
}

/**
 * Accepts `{ images: [image] }` (the report's shape), `{ images: { name: image } }`
 * or a bare array or map of images.
 */
export function parseReport(data: unknown): ReportImage[] {
  const container = isObject(data) && 'images' in data ? data.images : data;

  if (Array.isArray(container)) {
    return container
      .map((raw, index) => normalizeImage(`image ${index + 1}`, raw))
      .filter((image): image is ReportImage => image !== undefined);
  }

  if (isObject(container)) {
    return Object.entries(container)
      .map(([name, raw]) => normalizeImage(name, raw))
      .filter((image): image is ReportImage => image !== undefined);
  }

  return [];
}

export function loadReport(path: string = reportPath): LoadedReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing', path };
    throw error;
  }

  try {
    return { status: 'ok', path, images: parseReport(JSON.parse(text)) };
  } catch (error) {
    return { status: 'invalid', path, reason: (error as Error).message };
  }
}

/** Formats bytes in decimal units, as `docker image ls` prints them. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return 'unknown';
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  if (bytes < 1_000_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  return `${(bytes / 1_000_000_000).toFixed(2)} GB`;
}
