// Image references as a learner's session sees them. The teaching images keep their tags; every
// other name a learner uses lives under the session's own repository namespace on the engine,
// so `docker build -t hello .` makes lab-<session>/hello:latest there, and two learners' hello
// images never meet. Lists show the name without the namespace, as the learner typed it.
import { DEBIAN_RELEASES, IMAGE_NAMES, imageTag } from '../images/catalog.ts';

const TEACHING_TAGS: ReadonlySet<string> = new Set(
  IMAGE_NAMES.flatMap((name) => DEBIAN_RELEASES.map((release) => imageTag(name, release))),
);

/** A repository path as Docker accepts it: lower-case components separated by slashes. */
const REPOSITORY =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const IMAGE_ID = /^(?:sha256:)?[a-f0-9]{12,64}$/;

export function sessionNamespace(sessionId: string): string {
  return `lab-${sessionId}`;
}

export function isTeachingTag(ref: string): boolean {
  return TEACHING_TAGS.has(withTag(ref));
}

export function teachingTags(): string[] {
  return [...TEACHING_TAGS];
}

export function isImageId(ref: string): boolean {
  return IMAGE_ID.test(ref);
}

/** Adds :latest to a reference without a tag or digest. */
export function withTag(ref: string): string {
  if (ref.includes('@')) return ref;
  const lastSlash = ref.lastIndexOf('/');
  return ref.indexOf(':', lastSlash + 1) === -1 ? `${ref}:latest` : ref;
}

/** Splits and checks a name:tag reference; undefined when it is not one the proxy accepts. */
export function parseNameTag(ref: string): { repository: string; tag: string } | undefined {
  const full = withTag(ref);
  if (full.includes('@')) return undefined;
  const colon = full.lastIndexOf(':');
  const repository = full.slice(0, colon);
  const tag = full.slice(colon + 1);
  if (!REPOSITORY.test(repository) || !TAG.test(tag) || repository.length > 200) return undefined;
  return { repository, tag };
}

/**
 * The engine's name for a reference the learner typed: teaching tags and image ids stay, names
 * already in the session's namespace stay, and any other name moves into the namespace.
 * Undefined for a reference the proxy does not accept (a digest, a registry host with a port).
 */
export function toEngineRef(ref: string, sessionId: string): string | undefined {
  if (isImageId(ref) || isTeachingTag(ref)) return ref;

  const parsed = parseNameTag(ref);
  if (!parsed) return undefined;

  const namespace = sessionNamespace(sessionId);
  if (parsed.repository.startsWith(`${namespace}/`)) return `${parsed.repository}:${parsed.tag}`;
  return `${namespace}/${parsed.repository}:${parsed.tag}`;
}

/** The name a learner sees for an engine reference: the session's namespace removed. */
export function toDisplayRef(ref: string, sessionId: string): string {
  const prefix = `${sessionNamespace(sessionId)}/`;
  return ref.startsWith(prefix) ? ref.slice(prefix.length) : ref;
}

/** True when the engine reference is a tag in this session's namespace. */
export function isSessionRef(ref: string, sessionId: string): boolean {
  return ref.startsWith(`${sessionNamespace(sessionId)}/`);
}
