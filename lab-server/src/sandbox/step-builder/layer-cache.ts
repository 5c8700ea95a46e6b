// The layer cache: step images by session and cache key, for ` ---> Using cache`. A key covers
// the parent image, the step's command and settings, and what else decides its result, such as
// the hash of the files a COPY reads. A hit counts only while the engine still has the image,
// with the same parent and the same session's label.
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';

import { LABELS } from '../labels.ts';
import { inspectImage, type ImageConfig } from './engine.ts';

const CACHE_ENTRIES = 5000;

export class LayerCache {
  /** Image ids by cache key, least recently stored first. */
  private readonly entries = new Map<string, string>();

  get(key: string): string | undefined {
    return this.entries.get(key);
  }

  /** Stores the step image under its key, dropping the oldest entries past the size cap. */
  remember(key: string, imageId: string): void {
    this.entries.delete(key);
    this.entries.set(key, imageId);
    while (this.entries.size > CACHE_ENTRIES)
      this.entries.delete(this.entries.keys().next().value!);
  }

  forgetImage(imageId: string): void {
    for (const [key, value] of this.entries) if (value === imageId) this.entries.delete(key);
  }
}

/** Returns the cache key of a step: the session, then a hash of what decides the step's result. */
export function cacheKey(
  sessionId: string,
  parent: string,
  step: { cmd: string[]; extra?: string },
  config: ImageConfig,
): string {
  const hash = createHash('sha256')
    .update(JSON.stringify({ parent, cmd: step.cmd, config, extra: step.extra ?? '' }))
    .digest('hex');
  return `${sessionId}\0${hash}`;
}

/** Returns the cached step image for the key, or undefined, forgetting an entry that is no longer valid. */
export async function findCachedImage(
  docker: Docker,
  cache: LayerCache,
  lookup: { key: string; parent: string; sessionId: string },
): Promise<{ Id: string; Size: number } | undefined> {
  const imageId = cache.get(lookup.key);
  if (!imageId) return undefined;
  const info = await inspectImage(docker, imageId);
  if (
    !info ||
    info.Parent !== lookup.parent ||
    info.Config?.Labels?.[LABELS.session] !== lookup.sessionId
  ) {
    cache.forgetImage(imageId);
    return undefined;
  }
  return info;
}
