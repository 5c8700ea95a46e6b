// Planning COPY and ADD: files from the build context, or with --from from an earlier stage or an
// image, owned by root or by the --chown user, and local tar archives that ADD unpacks.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type Docker from 'dockerode';

import { isNotFound } from '../image-stream.ts';
import {
  archiveItems,
  copyItems,
  dirHeader,
  hashSelections,
  itemBytes,
  packItems,
  readTar,
  selectSources,
  type ArchiveItem,
  type Owner,
  type Selection,
} from './context.ts';
import { CopyTooLargeError, copyFromContainer } from './copy-from.ts';
import { readAll, statPath } from './engine.ts';
import { BuildFailure } from './messages.ts';
import { jsonArray } from './parse.ts';
import type { PlanBuild, PlanInput, Step } from './plan.ts';
import type { StepContainers } from './step-containers.ts';
import { expandWord, expandWords } from './words.ts';

/** The sources and destination of a COPY or ADD, as written and resolved against the working folder. */
interface CopyTarget {
  sources: string[];
  written: string;
  destination: string;
  endsInSlash: boolean;
  chown: string | undefined;
}

export async function planCopy(input: PlanInput, build: PlanBuild): Promise<Step> {
  const { instruction, config, shell, variables } = input;
  const { keyword, flags } = instruction;
  const unknown = Object.keys(flags).filter((flag) => flag !== 'from' && flag !== 'chown');
  if (unknown.length > 0)
    throw new BuildFailure(
      `${keyword} --${unknown[0]} is not supported by this lab server's builder`,
    );

  const words = jsonArray(instruction.args) ?? expandWords(instruction.args, variables);
  if (words.length < 2)
    throw new BuildFailure(
      `${keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`,
    );
  const written = words.at(-1)!;
  const target: CopyTarget = {
    sources: words.slice(0, -1),
    written,
    destination: path.posix.resolve(config.WorkingDir || '/', written),
    endsInSlash: written.endsWith('/') || written === '.',
    chown: flags.chown ? expandWord(flags.chown, variables) : undefined,
  };
  const chownText = target.chown ? `--chown=${target.chown} ` : '';

  if (flags.from !== undefined) {
    // Resolved to an id before the cache is asked, so a cached step is never a way around the check.
    const source = await sourceImage(build, expandWord(flags.from, variables));
    const hash = createHash('sha256')
      .update(`${source}\0${target.sources.join('\0')}`)
      .digest('hex');
    const kind = target.sources.length > 1 ? 'multi' : 'dir';
    return {
      cmd: [...shell, `#(nop) ${keyword} ${chownText}${kind}:${hash} in ${written} `],
      config,
      extra: hash,
      act: (container) => copyFromImage(build, container, { ...target, source }),
    };
  }

  const selections = selectSources(build.context, target.sources, keyword);
  const hash = hashSelections(selections);
  let kind = selections[0]!.isDirectory ? 'dir' : 'file';
  if (selections.length > 1) kind = 'multi';
  return {
    cmd: [...shell, `#(nop) ${keyword} ${chownText}${kind}:${hash} in ${written} `],
    config,
    extra: hash,
    act: (container) =>
      copyFromContext(build.containers, container, { ...target, keyword, selections }),
  };
}

/** Writes the selected context files into the step container; ADD unpacks a single local archive. */
async function copyFromContext(
  containers: StepContainers,
  container: Docker.Container,
  copy: CopyTarget & { keyword: string; selections: Selection[] },
): Promise<void> {
  const { selections, destination, chown } = copy;
  const owner = chown ? await resolveOwner(container, chown) : { uid: 0, gid: 0 };
  const existing = await statPath(container, destination);
  const intoFolder =
    copy.endsInSlash ||
    selections.length > 1 ||
    selections[0]!.isDirectory ||
    existing === 'directory';

  let items: ArchiveItem[] = [];
  const single =
    selections.length === 1 && !selections[0]!.isDirectory ? selections[0]!.entries[0]! : undefined;
  const unpacked =
    copy.keyword === 'ADD' && single
      ? await archiveItems(single, destination, chown ? owner : undefined, containers.roomBytes)
      : undefined;
  if (unpacked) items = unpacked;
  else {
    items = copyItems(selections, destination, intoFolder, owner);
    if (intoFolder && !existing && destination !== '/')
      items.unshift({ header: dirHeader(destination.slice(1), owner) });
  }
  containers.checkRoom(itemBytes(items));
  if (items.length > 0) await container.putArchive(packItems(items), { path: '/' });
}

/**
 * Returns the id of the image that COPY --from names: an earlier stage by name or number, or an
 * image the build may use.
 */
async function sourceImage(build: PlanBuild, from: string): Promise<string> {
  const { stages } = build;
  const byIndex = /^\d+$/.test(from) ? stages[Number(from)] : undefined;
  const byName = stages.find((stage) => stage.name === from.toLowerCase());
  const stage = byIndex ?? byName;
  if (stage) return stage.imageId;
  if (/^\d+$/.test(from))
    throw new BuildFailure(`COPY --from=${from}: there is no earlier stage with that number`);
  return (await build.image(from, 'COPY --from')).Id;
}

/** Copies paths out of a container of the source image into the step container. */
async function copyFromImage(
  build: PlanBuild,
  container: Docker.Container,
  copy: CopyTarget & { source: string },
): Promise<void> {
  const { containers } = build;
  const owner = copy.chown ? await resolveOwner(container, copy.chown) : undefined;
  const source = await containers.create(
    copy.source,
    ['#(nop) COPY source'],
    {},
    undefined,
    'none',
  );

  try {
    for (const sourcePath of copy.sources.map((item) => path.posix.resolve('/', item))) {
      const kind = await statPath(source, sourcePath);
      if (!kind)
        throw new BuildFailure(
          `COPY failed: stat ${sourcePath}: file does not exist in the source stage or image`,
        );
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
        limitBytes: containers.roomBytes,
        signal: build.signal,
      }).catch((error: unknown) => {
        if (error instanceof CopyTooLargeError) throw containers.diskFailure(`COPY --from`);
        throw error;
      });
      containers.checkRoom(bytes);
    }
  } finally {
    await containers.remove(source);
  }
}

/** Resolves `user[:group]` by name or number through the image's /etc/passwd and /etc/group. */
async function resolveOwner(container: Docker.Container, chown: string): Promise<Owner> {
  const [user = '', group = user] = chown.split(':');
  const passwd = await readEtc(container, '/etc/passwd');
  const groups = await readEtc(container, '/etc/group');

  const uid = /^\d+$/.test(user) ? Number(user) : passwd.find((fields) => fields[0] === user)?.[2];
  if (uid === undefined)
    throw new BuildFailure(
      `unable to convert uid/gid chown string to host mapping: can't find uid for user ${user}: no such user: ${user}`,
    );
  const gid = /^\d+$/.test(group)
    ? Number(group)
    : groups.find((fields) => fields[0] === group)?.[2];
  if (gid === undefined)
    throw new BuildFailure(
      `unable to convert uid/gid chown string to host mapping: can't find gid for group ${group}: no such group: ${group}`,
    );
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
