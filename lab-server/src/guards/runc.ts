// Which runc versions have a known container escape, and whether a learner could use it here.
//
// `learnerReachable` escapes need only a process in a container (or a `docker exec` into one), so
// a learner's shell suffices. The others need an image or mount configuration that the attacker
// controls. Learners run only the teaching images, so those escapes matter once learners may build
// or run images of their own.

export interface RuncEscape {
  cve: string;
  summary: string;
  /** Upstream releases that contain the fix, one per maintained branch, lowest first. */
  fixedIn: string[];
  /** Distribution package versions that carry a backported fix. */
  patchedPackages: string[];
  learnerReachable: boolean;
}

export const RUNC_ESCAPES: readonly RuncEscape[] = [
  {
    cve: 'CVE-2019-5736',
    summary: 'a root process in a container overwrites the host runc binary through /proc/self/exe',
    fixedIn: ['1.0.0-rc7'],
    patchedPackages: [],
    learnerReachable: true,
  },
  {
    cve: 'CVE-2024-21626',
    summary: 'a leaked host file descriptor gives a container process the host file system',
    fixedIn: ['1.1.12'],
    // Debian's changelog for 1.1.5+ds1-1+deb12u1 (bookworm-security) lists this fix.
    patchedPackages: ['1.1.5+ds1-1+deb12u1'],
    learnerReachable: true,
  },
  {
    cve: 'CVE-2025-31133, CVE-2025-52565, CVE-2025-52881',
    summary: 'a crafted image or mount configuration redirects runc writes under /proc to the host',
    fixedIn: ['1.2.8', '1.3.3', '1.4.0'],
    patchedPackages: [],
    learnerReachable: false,
  },
];

type Version = [number, number, number, number];

/** Parses "1.1.12", "v1.1.12-0-g51d5e94", "1.0.0-rc7" or "1.1.5+ds1-1+deb12u1"; rc counts below release. */
export function parseRuncVersion(text: string): Version | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)(?:-rc\.?(\d+))?/.exec(text.trim());
  if (!match) return undefined;

  const [, major, minor, patch, rc] = match;
  return [
    Number(major),
    Number(minor),
    Number(patch),
    rc === undefined ? Number.MAX_SAFE_INTEGER : Number(rc),
  ];
}

function compare(a: Version, b: Version): number {
  for (let index = 0; index < 4; index += 1) {
    if (a[index] !== b[index]) return a[index]! - b[index]!;
  }
  return 0;
}

/** Returns true when the version is at or past the fix on its own branch (same major.minor), or on a newer branch. */
function isFixed(version: Version, fixedIn: string[]): boolean {
  const fixes = fixedIn.map((text) => parseRuncVersion(text)!);
  const sameBranch = fixes.find((fix) => fix[0] === version[0] && fix[1] === version[1]);
  if (sameBranch) return compare(version, sameBranch) >= 0;

  const lowest = fixes[0]!;
  const newestFix = fixes[fixes.length - 1]!;
  if (compare(version, newestFix) > 0) return true;
  return compare(version, lowest) >= 0 && fixes.length === 1;
}

/** Lists the escapes the given runc is open to; an unparseable version is open to all of them. */
export function openEscapes(runcVersion: string | undefined): RuncEscape[] {
  const version = runcVersion ? parseRuncVersion(runcVersion) : undefined;
  return RUNC_ESCAPES.filter((escape) => {
    if (runcVersion && escape.patchedPackages.includes(runcVersion.trim())) return false;
    if (!version) return true;
    return !isFixed(version, escape.fixedIn);
  });
}
