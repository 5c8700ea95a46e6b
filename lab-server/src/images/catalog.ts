// The teaching images: their short names, tags, parents and build arguments. Labs refer to
// images by short name only; the tag is derived here from the name and the Debian release.

export type DebianRelease = 'trixie' | 'bookworm';

export type ImageName =
  | 'base'
  | 'php-base'
  | 'webserver'
  | 'webserver-squashed'
  | 'dbserver-mariadb'
  | 'dbserver-postgres'
  | 'router'
  | 'workbench';

/** Every image in dependency order: each image comes after its parent. */
export const IMAGE_NAMES: readonly ImageName[] = [
  'base',
  'php-base',
  'webserver',
  'webserver-squashed',
  'dbserver-mariadb',
  'dbserver-postgres',
  'router',
  'workbench',
];

export const DEBIAN_RELEASES: readonly DebianRelease[] = ['trixie', 'bookworm'];

export const DEFAULT_RELEASE: DebianRelease = 'trixie';

export const TAG_NAMESPACE = 'ddev-lab';

/** Versions of the packages each Debian release ships, as its archive lists them. */
export const DEBIAN_PACKAGE_VERSIONS: Readonly<
  Record<DebianRelease, { debian: string; php: string; mariadb: string; postgres: string }>
> = {
  trixie: { debian: '13', php: '8.4', mariadb: '11.8', postgres: '17' },
  bookworm: { debian: '12', php: '8.2', mariadb: '10.11', postgres: '15' },
};

export interface ImageSpec {
  name: ImageName;
  /** Folder under images/ that is the build context. */
  folder: string;
  /** The image this one is built FROM; 'debian' is debian:<release>-slim. */
  parent: ImageName | 'debian';
}

export const IMAGE_SPECS: Readonly<Record<ImageName, ImageSpec>> = {
  base: { name: 'base', folder: 'base', parent: 'debian' },
  'php-base': { name: 'php-base', folder: 'php-base', parent: 'base' },
  webserver: { name: 'webserver', folder: 'webserver', parent: 'php-base' },
  'webserver-squashed': {
    name: 'webserver-squashed',
    folder: 'webserver-squashed',
    parent: 'webserver',
  },
  'dbserver-mariadb': { name: 'dbserver-mariadb', folder: 'dbserver-mariadb', parent: 'base' },
  'dbserver-postgres': { name: 'dbserver-postgres', folder: 'dbserver-postgres', parent: 'base' },
  router: { name: 'router', folder: 'router', parent: 'base' },
  workbench: { name: 'workbench', folder: 'workbench', parent: 'base' },
};

/** Returns true when the value is one of the short image names. */
export function isImageName(value: string): value is ImageName {
  return (IMAGE_NAMES as readonly string[]).includes(value);
}

/** Returns true when the value is a Debian release the images build on. */
export function isDebianRelease(value: string): value is DebianRelease {
  return (DEBIAN_RELEASES as readonly string[]).includes(value);
}

/** Returns the tag of the Debian slim image the base image starts FROM. */
export function debianSlimTag(release: DebianRelease = DEFAULT_RELEASE): string {
  return `debian:${release}-slim`;
}

/**
 * Returns the full tag of an image, named like DDEV's (ddev/ddev-webserver,
 * ddev/ddev-dbserver-mariadb-11.8) under the ddev-lab namespace, tagged by Debian release.
 */
export function imageTag(name: ImageName, release: DebianRelease = DEFAULT_RELEASE): string {
  return `${TAG_NAMESPACE}/${imageRepository(name, release)}:${release}`;
}

function imageRepository(name: ImageName, release: DebianRelease): string {
  const versions = DEBIAN_PACKAGE_VERSIONS[release];

  if (name === 'dbserver-mariadb') return `ddev-dbserver-mariadb-${versions.mariadb}`;
  if (name === 'dbserver-postgres') return `ddev-dbserver-postgres-${versions.postgres}`;

  return `ddev-${name}`;
}

/** Returns the tag of an image's parent. */
export function parentTag(name: ImageName, release: DebianRelease = DEFAULT_RELEASE): string {
  const parent = IMAGE_SPECS[name].parent;

  return parent === 'debian' ? debianSlimTag(release) : imageTag(parent, release);
}

/** Returns the build arguments every Dockerfile in images/ may declare. */
export function buildArgs(name: ImageName, release: DebianRelease): Record<string, string> {
  const versions = DEBIAN_PACKAGE_VERSIONS[release];

  return {
    DEBIAN_RELEASE: release,
    BASE_IMAGE: parentTag(name, release),
    PHP_VERSION: versions.php,
    MARIADB_VERSION: versions.mariadb,
    POSTGRES_VERSION: versions.postgres,
  };
}

/** Returns the names in dependency order, with every prerequisite of the requested names added. */
export function withPrerequisites(names: readonly ImageName[]): ImageName[] {
  const required = new Set<ImageName>();

  for (const name of names) {
    let current: ImageName | 'debian' = name;
    while (current !== 'debian' && !required.has(current)) {
      required.add(current);
      current = IMAGE_SPECS[current].parent;
    }
  }

  return IMAGE_NAMES.filter((name) => required.has(name));
}
