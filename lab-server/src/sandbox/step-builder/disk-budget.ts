// What the images a session built hold on disk, counted against the session's disk quota before
// and during each of its builds. Every step image carries the session's labels and builds on its
// parent, so each image's own layer is its size less its parent's: summed over the session's
// images, a layer shared by several of them counts once, and the teaching images below them
// count nothing.
import type Docker from 'dockerode';

import { LABELS, labelFilter } from '../labels.ts';

export interface BudgetImage {
  id: string;
  /** The image this one builds on; '' for none. */
  parentId: string;
  /** The image's whole size, its parents' layers included, as the engine reports it. */
  sizeBytes: number;
  /** Whether a tag names the image. */
  tagged: boolean;
}

/**
 * Returns the bytes the session's images hold. `outside` gives the size of each parent that is
 * not one of them (a teaching image); `replaced` names images about to go, which count nothing.
 */
export function heldBytes(
  images: readonly BudgetImage[],
  outside: ReadonlyMap<string, number>,
  replaced: ReadonlySet<string> = new Set(),
): number {
  const byId = new Map(images.map((image) => [image.id, image]));
  let total = 0;
  for (const image of images) {
    if (replaced.has(image.id)) continue;
    const parentSize = image.parentId
      ? (byId.get(image.parentId)?.sizeBytes ?? outside.get(image.parentId) ?? 0)
      : 0;
    total += Math.max(0, image.sizeBytes - parentSize);
  }
  return total;
}

/**
 * Returns the images that removing `leafId` removes: the image, then each untagged parent of the
 * session that no other image builds on, as `docker rmi` prunes them.
 */
export function removedWith(images: readonly BudgetImage[], leafId: string): Set<string> {
  const byId = new Map(images.map((image) => [image.id, image]));
  const children = new Map<string, number>();
  for (const image of images)
    if (image.parentId) children.set(image.parentId, (children.get(image.parentId) ?? 0) + 1);

  const removed = new Set<string>();
  let current = byId.get(leafId);
  if (!current) return removed;
  removed.add(current.id);
  for (;;) {
    const parent = byId.get(current.parentId);
    if (!parent || parent.tagged || (children.get(parent.id) ?? 0) > 1) return removed;
    removed.add(parent.id);
    current = parent;
  }
}

/**
 * Reads from the engine what the session's images hold, less the image `replaces` names (a
 * Restart's previous result, which the new one replaces) and the parents only it keeps.
 */
export async function sessionDiskUse(
  docker: Docker,
  owner: { instance: string; sessionId: string },
  replaces?: string,
): Promise<number> {
  const listed = await docker.listImages({
    all: true,
    filters: JSON.stringify(
      labelFilter({
        [LABELS.managed]: 'true',
        [LABELS.instance]: owner.instance,
        [LABELS.session]: owner.sessionId,
      }),
    ),
  });
  const images: BudgetImage[] = listed.map((image) => ({
    id: image.Id,
    parentId: image.ParentId ?? '',
    sizeBytes: image.Size,
    tagged: (image.RepoTags ?? []).some((tag) => tag !== '<none>:<none>'),
  }));

  const ids = new Set(images.map((image) => image.id));
  const outside = new Map<string, number>();
  for (const parentId of new Set(images.map((image) => image.parentId))) {
    if (!parentId || ids.has(parentId)) continue;
    const info = await docker
      .getImage(parentId)
      .inspect()
      .catch(() => undefined);
    outside.set(parentId, info?.Size ?? 0);
  }

  let replaced = new Set<string>();
  if (replaces) {
    const info = await docker
      .getImage(replaces)
      .inspect()
      .catch(() => undefined);
    if (info && ids.has(info.Id)) replaced = removedWith(images, info.Id);
  }
  return heldBytes(images, outside, replaced);
}
