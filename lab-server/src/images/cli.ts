// `npm run images`: builds the teaching images that are missing or out of date, printing
// progress, and writes the layer report. Flags: --release bookworm|trixie, --force, image names.
import { parseArgs } from 'node:util';

import { LabError } from '../errors.ts';
import { DEBIAN_RELEASES, IMAGE_NAMES, isDebianRelease, isImageName } from './catalog.ts';
import type { DebianRelease, ImageName } from './catalog.ts';
import { ensureImages } from './build.ts';

const USAGE = `Usage: npm run images -- [--release trixie|bookworm] [--force] [image ...]
  --release  Debian release to build on (default: trixie)
  --force    rebuild the named images, or all of them, without the build cache
  image      ${IMAGE_NAMES.join(', ')} (default: all); parents are added`;

interface CliRequest {
  names: ImageName[] | undefined;
  release: DebianRelease;
  force: boolean;
}

/** Parses the command line; throws a UsageError whose message is meant for the user. */
export function parseCli(argv: string[]): CliRequest {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      release: { type: 'string', default: 'trixie' },
      force: { type: 'boolean', default: false },
    },
  });

  const release = values.release;
  if (!isDebianRelease(release)) {
    throw new UsageError(
      `--release ${release} is not supported; use one of ${DEBIAN_RELEASES.join(', ')}.`,
    );
  }

  for (const name of positionals) checkImageName(name);

  return {
    names: positionals.length > 0 ? (positionals as ImageName[]) : undefined,
    release,
    force: values.force,
  };
}

function checkImageName(name: string): void {
  if (/mysql/i.test(name)) {
    throw new UsageError(
      `${name} cannot be built: Debian does not package MySQL (it ships MariaDB instead), and ` +
        'ddev-lab builds every image from Debian packages alone. Use dbserver-mariadb.',
    );
  }

  if (!isImageName(name)) {
    throw new UsageError(`Unknown image "${name}". Known images: ${IMAGE_NAMES.join(', ')}.`);
  }
}

export class UsageError extends Error {}

async function main(): Promise<number> {
  let request: CliRequest;
  try {
    request = parseCli(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
    console.error(error.message);
    console.error(USAGE);
    return 2;
  }

  const started = performance.now();
  try {
    const report = await ensureImages({ ...request, onProgress: (line) => console.log(line) });
    printSummary(report.run.results, started);
    return 0;
  } catch (error) {
    if (!(error instanceof LabError)) throw error;
    console.error(error.message);
    return 1;
  }
}

function printSummary(
  results: Awaited<ReturnType<typeof ensureImages>>['run']['results'],
  started: number,
): void {
  for (const result of results) {
    console.log(`${result.tag}: ${result.action} (${result.seconds} s)`);
  }
  console.log(`done in ${Math.round((performance.now() - started) / 1000)} s`);
}

if (import.meta.main) {
  process.exitCode = await main();
}
