// Trims a debootstrap root filesystem the way Debian's official slim images are trimmed: no
// apt lists or package cache, no manuals or translations, and dpkg configured to skip them on later
// installs, so images built FROM it stay small too.
import { readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Folders that are emptied completely. */
const EMPTIED_FOLDERS = [
  'var/lib/apt/lists',
  'var/cache/apt',
  'var/log',
  'tmp',
  'dev',
  'usr/share/man',
  'usr/share/info',
  'usr/share/groff',
  'usr/share/lintian',
];

const DPKG_EXCLUDES = `# Keep later package installs as small as the slim base: no manuals, docs or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
`;

// Without this, each `apt-get update` in a Dockerfile leaves about 90 MB of package caches
// (pkgcache.bin and srcpkgcache.bin on trixie) in its layer, and installs leave their .deb files.
const APT_CLEAN = `APT::Keep-Downloaded-Packages "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
`;

/** Trims the root filesystem in place and writes its apt sources (main, updates, security). */
export async function slimRootfs(rootfs: string, release: string, mirror: string): Promise<void> {
  for (const folder of EMPTIED_FOLDERS) {
    await emptyFolder(join(rootfs, folder));
  }
  await keepOnly(join(rootfs, 'usr/share/locale'), (entry) => entry === 'locale.alias');
  await trimDocs(join(rootfs, 'usr/share/doc'));

  await writeFile(join(rootfs, 'etc/dpkg/dpkg.cfg.d/ddev-lab-slim'), DPKG_EXCLUDES);
  await writeFile(join(rootfs, 'etc/apt/apt.conf.d/ddev-lab-clean'), APT_CLEAN);

  await rm(join(rootfs, 'etc/apt/sources.list'), { force: true });
  await mkdir(join(rootfs, 'etc/apt/sources.list.d'), { recursive: true });
  await writeFile(
    join(rootfs, 'etc/apt/sources.list.d/debian.sources'),
    aptSources(release, mirror),
  );

  // The engine supplies these per container; what debootstrap copied from the host must not stay.
  await writeFile(join(rootfs, 'etc/resolv.conf'), '');
  await writeFile(join(rootfs, 'etc/hostname'), '');
  await writeFile(join(rootfs, 'etc/machine-id'), '');
}

function aptSources(release: string, mirror: string): string {
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';

  return [
    'Types: deb',
    `URIs: ${mirror}`,
    `Suites: ${release} ${release}-updates`,
    'Components: main',
    `Signed-By: ${keyring}`,
    '',
    'Types: deb',
    'URIs: http://deb.debian.org/debian-security',
    `Suites: ${release}-security`,
    'Components: main',
    `Signed-By: ${keyring}`,
    '',
  ].join('\n');
}

async function emptyFolder(folder: string): Promise<void> {
  await keepOnly(folder, () => false);
}

async function keepOnly(folder: string, keep: (entry: string) => boolean): Promise<void> {
  const entries = await readdir(folder).catch(() => [] as string[]);

  for (const entry of entries) {
    if (!keep(entry)) await rm(join(folder, entry), { recursive: true, force: true });
  }
}

/** Removes each package's docs but its copyright file, which the licences require to ship. */
async function trimDocs(docFolder: string): Promise<void> {
  const packages = await readdir(docFolder).catch(() => [] as string[]);

  for (const name of packages) {
    await keepOnly(join(docFolder, name), (entry) => entry === 'copyright');
  }
}
