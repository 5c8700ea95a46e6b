// Container names as a learner's session sees them. The engine has one namespace of container
// names for all its containers, so the proxy keeps each session's names under a prefix of its
// own: `docker run --name web` makes ddevlab-<instance>-<session>-web on the engine, the prefix
// that the lab's own services carry too, and the learner sees `web`. Names the learner types are
// looked up among the session's containers only, never by the engine, so neither a name nor an
// id prefix of another session's container can be probed.
import { labelFilter } from '../sandbox/labels.ts';
import type { ContainerInfo, ProxyContext } from './context.ts';
import { withQuery } from './forward.ts';
import { badRequest, noSuchContainer } from './refusals.ts';

/** A container as the engine lists it: the fields that name it. */
export interface ListedContainer {
  Id: string;
  Names: string[] | null;
  Labels: Record<string, string> | null;
}

/**
 * Returns the engine-side prefix of a session's container names. The lab server names the lab's
 * own services `ddevlab-<instance>-<session>-<service>` (docker-runtime.ts), so they show by service name.
 */
export function containerNamePrefix(session: { instance: string; sessionId: string }): string {
  return `ddevlab-${session.instance}-${session.sessionId}-`;
}

/** Returns the engine's name for a name the learner typed, with or without Docker's leading slash. */
export function toEngineName(name: string, prefix: string): string {
  return `${prefix}${name.startsWith('/') ? name.slice(1) : name}`;
}

/**
 * The name a learner sees: the session's prefix removed, the leading slash kept. Any other
 * name, such as the engine's random name for a container made without --name, stays as it is.
 */
export function toDisplayName(engineName: string, prefix: string): string {
  const slash = engineName.startsWith('/') ? '/' : '';
  const bare = engineName.slice(slash.length);
  if (!bare.startsWith(prefix) || bare.length === prefix.length) return engineName;
  return `${slash}${bare.slice(prefix.length)}`;
}

export function toDisplayNames(names: string[] | null, prefix: string): string[] | null {
  return names?.map((name) => toDisplayName(name, prefix)) ?? names;
}

/** Removes the session's prefix from every name an engine message quotes. */
export function toDisplayMessage(message: string, prefix: string): string {
  return message.split(prefix).join('');
}

/**
 * Finds the id of the container a learner's reference names, in the engine's order: a full id, then
 * a name (in the session's namespace first, then as the engine spells it), then a unique id
 * prefix. Returns "ambiguous" when several containers start with the prefix, as the engine reports.
 */
export function findContainer(
  containers: ListedContainer[],
  ref: string,
  prefix: string,
): string | 'ambiguous' | undefined {
  const name = ref.startsWith('/') ? ref.slice(1) : ref;
  if (name === '') return undefined;

  const byId = containers.find((container) => container.Id === name);
  if (byId) return byId.Id;

  const hasName = (wanted: string) =>
    containers.find((container) => (container.Names ?? []).includes(`/${wanted}`));
  const byName = hasName(toEngineName(name, prefix)) ?? hasName(name);
  if (byName) return byName.Id;

  const byPrefix = containers.filter((container) => container.Id.startsWith(name));
  if (byPrefix.length > 1) return 'ambiguous';
  return byPrefix[0]?.Id;
}

/** Lists the session's containers, the lab's services included. */
export async function sessionContainers(context: ProxyContext): Promise<ListedContainer[]> {
  const query = new URLSearchParams({
    all: '1',
    filters: JSON.stringify(labelFilter(context.sessionLabels())),
  });
  const { status, value } = await context.engine.json<ListedContainer[]>(
    'GET',
    withQuery('/containers/json', query),
  );
  if (status >= 300) throw new Error(`listing the session's containers: engine status ${status}`);
  return value.filter((container) => context.belongs(container.Labels));
}

/** Looks up the session's container that a learner's reference names, or raises "No such container". */
export async function resolveContainer(context: ProxyContext, ref: string): Promise<ContainerInfo> {
  const id = await resolveContainerId(context, ref);
  return context.ownContainer(id);
}

export async function resolveContainerId(
  context: ProxyContext,
  ref: string,
  containers?: ListedContainer[],
): Promise<string> {
  const found = findContainer(
    containers ?? (await sessionContainers(context)),
    ref,
    containerNamePrefix(context.session),
  );
  if (found === 'ambiguous') throw badRequest(`multiple IDs found with provided prefix: ${ref}`);
  if (!found) throw noSuchContainer(ref);
  return found;
}

/**
 * Rewrites the learner's `name` filter patterns for the engine. The engine matches each pattern as a
 * regular expression against the name with and without its slash, and keeps a container when
 * any pattern matches. A pattern anchored with ^ gets a copy anchored after the session's
 * prefix, so `^web$` finds the container the learner named web. The original stays, so that it
 * still finds an unnamed container's random name.
 */
export function namespaceNamePatterns(patterns: string[], prefix: string): string[] {
  const rewritten = patterns.flatMap((pattern) => {
    if (pattern.startsWith('^/')) return [pattern, `^/${prefix}${pattern.slice(2)}`];
    if (pattern.startsWith('^')) return [pattern, `^${prefix}${pattern.slice(1)}`];
    return [pattern];
  });
  return [...new Set(rewritten)];
}
