// Writes the Dockerfile that `ddev start` generates for a project's web or db image
// (DDEV v1.25, WriteBuildDockerfile): the fragments of .ddev/web-build or .ddev/db-build around
// DDEV's own block, in DDEV's order. Pure: the folder is read by folder.ts.
import type { BuildFolder, Fragment } from './folder.ts';

export type BuildKind = 'web' | 'db';

export interface ProjectUser {
  name: string;
  uid: number;
  gid: number;
}

export interface DockerfileOptions {
  kind: BuildKind;
  /**
   * USER of the base image. DDEV's images build as root; ddev-lab's webserver image ends with
   * USER ddev, so for it the block switches to root and the end switches back.
   */
  baseImageUser?: string;
  /** webimage_extra_packages or dbimage_extra_packages, already validated. */
  extraPackages: readonly string[];
}

/** One part of the generated Dockerfile and where it came from, for messages about a step. */
export interface DockerfileSection {
  /** The fragment's file name, or a description of a block ddev-lab writes. */
  source: string;
  /** First and last line of the section, counted from 1. */
  firstLine: number;
  lastLine: number;
}

export interface GeneratedDockerfile {
  text: string;
  sections: DockerfileSection[];
}

export interface BuildArgOptions {
  kind: BuildKind;
  baseImage: string;
  user: ProjectUser;
  phpVersion: string;
  /** Database type and version as DDEV passes them, for example `mariadb:11.8`. */
  database: string;
  /** The engine's platform; BuildKit sets TARGET* itself, the classic builder needs them passed. */
  platform: { os: string; architecture: string };
}

// DDEV takes the host user's name and ids, falling back to ddev, 1000 and 1000. A shared training
// server has no single host user, so ddev-lab always uses the fallback, which its images create.
export const DEFAULT_USER: ProjectUser = { name: 'ddev', uid: 1000, gid: 1000 };

/** Build arguments that DDEV's block declares, besides BASE_IMAGE, in DDEV's order. */
export function declaredArgs(kind: BuildKind): string[] {
  const args = [
    'TARGETPLATFORM',
    'TARGETARCH',
    'TARGETOS',
    'username',
    'uid',
    'gid',
    'DDEV_PHP_VERSION',
  ];
  return kind === 'web' ? [...args, 'DDEV_DATABASE'] : args;
}

// Marks the file as generated, as DDEV's header does, and declares BASE_IMAGE before any FROM so
// that prepend fragments can use it.
const HEADER = [
  '#ddev-generated - Do not modify this file; ddev-lab writes it again at every Restart.',
  'ARG BASE_IMAGE="scratch"',
];

// Creates the project's user like DDEV's block. It adds the tty group if the image lacks it, then
// the group and the user with the requested ids, falling back to free ids when one is taken, and
// makes the user a member of tty and of group 0. The teaching images already have ddev
// (1000:1000), so for that user only the memberships change.
const USER_SETUP = [
  'RUN set -eu; \\',
  '    getent group tty >/dev/null || groupadd tty; \\',
  '    getent group "$gid" >/dev/null || groupadd --gid "$gid" "$username" || groupadd "$username" || true; \\',
  '    id -u "$username" >/dev/null 2>&1 \\',
  '        || useradd --create-home --shell /bin/bash --uid "$uid" --gid "$gid" "$username" \\',
  '        || useradd --create-home --shell /bin/bash --gid "$gid" "$username" \\',
  '        || useradd --create-home --shell /bin/bash "$username"; \\',
  '    usermod --append --groups tty,0 "$username"',
];

// NOTE: DDEV caps `apt-get update` with `timeout`; 120 s is ddev-lab's value for the cap.
const APT_UPDATE_SECONDS = 120;

/** Returns the build arguments `ddev start` passes for this image, plus TARGET* for the classic builder. */
export function projectBuildArgs(options: BuildArgOptions): Record<string, string> {
  const architecture = normaliseArchitecture(options.platform.architecture);
  const args: Record<string, string> = {
    BASE_IMAGE: options.baseImage,
    TARGETPLATFORM: `${options.platform.os}/${architecture}`,
    TARGETARCH: architecture,
    TARGETOS: options.platform.os,
    username: options.user.name,
    uid: String(options.user.uid),
    gid: String(options.user.gid),
  };

  // DDEV's compose file passes the PHP version and the database to web only.
  if (options.kind === 'web') {
    args.DDEV_PHP_VERSION = options.phpVersion;
    args.DDEV_DATABASE = options.database;
  }
  return args;
}

/** Writes the Dockerfile for the folder's fragments, in the order `ddev start` uses. */
export function generateDockerfile(
  folder: Pick<BuildFolder, 'fragments'>,
  options: DockerfileOptions,
): GeneratedDockerfile {
  const writer = new SectionWriter();
  const folderName = options.kind === 'web' ? 'web-build' : 'db-build';

  writer.add('generated header', HEADER);
  for (const fragment of inGroup(folder.fragments, 'prepend'))
    writer.addFragment(folderName, fragment, false);

  const switchUser =
    options.baseImageUser !== undefined && !['', 'root', '0'].includes(options.baseImageUser);
  writer.add("DDEV's block: the base image, the build arguments and the project's user", [
    'FROM $BASE_IMAGE',
    ...(switchUser ? ['USER root'] : []),
    'SHELL ["/bin/bash", "-c"]',
    ...declaredArgs(options.kind).map((name) => `ARG ${name}`),
    ...USER_SETUP,
  ]);

  for (const fragment of inGroup(folder.fragments, 'pre'))
    writer.addFragment(folderName, fragment, false);

  // NOTE: DDEV also injects steps here for PHP versions the image lacks, node versions, database
  // clients and composer. ddev-lab accepts only the PHP version Debian ships, and its images
  // carry Debian's clients and composer, so none of those steps applies.
  if (options.extraPackages.length > 0) {
    const key = options.kind === 'web' ? 'webimage_extra_packages' : 'dbimage_extra_packages';
    writer.add(key, [
      `RUN (timeout ${APT_UPDATE_SECONDS} apt-get update || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y ` +
        `-o Dpkg::Options::="--force-confold" --no-install-recommends --no-install-suggests ${options.extraPackages.join(' ')}`,
    ]);
  }

  for (const fragment of inGroup(folder.fragments, 'main'))
    writer.addFragment(folderName, fragment, true);
  if (switchUser)
    writer.add("ddev-lab: back to the base image's user", [`USER ${options.baseImageUser}`]);

  return writer.result();
}

/**
 * Removes `ARG BASE_IMAGE…` and `FROM $BASE_IMAGE…` lines, as DDEV does to Dockerfile* fragments
 * for backward compatibility, so a fragment written as a whole Dockerfile still fits in.
 */
export function stripBaseImageLines(content: string): string {
  return content
    .split('\n')
    .filter(
      (line) =>
        !/^\s*ARG\s+BASE_IMAGE\b/i.test(line) && !/^\s*FROM\s+\$\{?BASE_IMAGE\b/i.test(line),
    )
    .join('\n');
}

function inGroup(fragments: readonly Fragment[], group: Fragment['group']): Fragment[] {
  return fragments.filter((fragment) => fragment.group === group);
}

function normaliseArchitecture(architecture: string): string {
  const names: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64' };
  return names[architecture] ?? architecture;
}

class SectionWriter {
  private readonly lines: string[] = [];
  private readonly sections: DockerfileSection[] = [];

  /** Appends a section under a `### source` comment line, except the header, which comes first. */
  add(source: string, lines: readonly string[]): void {
    if (this.lines.length > 0) this.lines.push('', `### ${source}`);

    const firstLine = this.lines.length + 1;
    this.lines.push(...lines);
    this.sections.push({ source, firstLine, lastLine: this.lines.length });
  }

  addFragment(folderName: string, fragment: Fragment, stripBase: boolean): void {
    const content = stripBase ? stripBaseImageLines(fragment.content) : fragment.content;
    const lines = content.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
    this.add(`${folderName}/${fragment.name}`, lines);
  }

  result(): GeneratedDockerfile {
    return { text: `${this.lines.join('\n')}\n`, sections: this.sections };
  }
}
