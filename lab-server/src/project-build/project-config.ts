// The part of a project's .ddev/config.yaml that shapes its built images. Other keys are valid
// DDEV settings that ddev-lab does not use, so they are ignored rather than rejected.
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';

import { DEBIAN_PACKAGE_VERSIONS, DEFAULT_RELEASE, type DebianRelease } from '../images/catalog.ts';
import { ProjectConfigError } from './errors.ts';

/** DDEV's webserver types (DDEV v1.25, pkg/nodeps/values.go). */
export const WEBSERVER_TYPES = ['nginx-fpm', 'apache-fpm', 'generic'] as const;

export type WebserverType = (typeof WEBSERVER_TYPES)[number];

export interface ProjectConfig {
  name: string | undefined;
  phpVersion: string;
  webserverType: WebserverType;
  webimageExtraPackages: string[];
  dbimageExtraPackages: string[];
}

// A Debian package name (lower-case letters, digits, `+`, `-` and `.`), optionally built around
// ${DDEV_PHP_VERSION}, which DDEV's docs suggest for PHP extensions.
const PACKAGE = /^(?:[a-z0-9]|\$\{?DDEV_PHP_VERSION\}?)(?:[a-z0-9+.-]|\$\{?DDEV_PHP_VERSION\}?)+$/;
const MAX_PACKAGES = 40;

const packageList = () =>
  z
    .array(
      z.string({ error: 'must be a string' }).regex(PACKAGE, {
        error: (issue) =>
          `${JSON.stringify(issue.input)} is not a Debian package name; use lower-case letters, digits, ` +
          '"+", "-" and ".", for example "figlet" or "php${DDEV_PHP_VERSION}-tidy"',
      }),
      { error: 'must be a list of Debian package names, for example [figlet, tree]' },
    )
    .max(MAX_PACKAGES, { error: `may list at most ${MAX_PACKAGES} packages` })
    .nullish()
    .transform((value) => value ?? []);

function configSchema(release: DebianRelease) {
  const php = DEBIAN_PACKAGE_VERSIONS[release].php;
  const debian = DEBIAN_PACKAGE_VERSIONS[release].debian;

  return z.looseObject({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,39}$/, {
        error: 'must be letters, digits and dashes, at most 40, starting with a letter or digit',
      })
      .optional(),
    php_version: z
      .union([z.string(), z.number()])
      .transform((value) => String(value))
      .refine((value) => value === php, {
        error: (issue) =>
          `${JSON.stringify(String(issue.input))} is not available: the teaching image has the PHP ` +
          `that Debian ${debian} ships, so use "${php}"`,
      })
      .optional(),
    webserver_type: z
      .enum(WEBSERVER_TYPES, {
        error: (issue) =>
          `${JSON.stringify(issue.input)} is not valid; use one of ${WEBSERVER_TYPES.join(', ')}`,
      })
      .optional(),
    webimage_extra_packages: packageList(),
    dbimage_extra_packages: packageList(),
  });
}

/** Parses config.yaml text; throws ProjectConfigError naming each invalid key and what is allowed. */
export function parseProjectConfig(
  text: string,
  release: DebianRelease = DEFAULT_RELEASE,
): ProjectConfig {
  const document = readYaml(text);
  const result = configSchema(release).safeParse(document ?? {});
  if (!result.success) {
    throw new ProjectConfigError(
      result.error.issues.map((issue) => `${keyPath(issue.path)}: ${sentence(issue.message)}`),
    );
  }

  const data = result.data;
  return {
    name: data.name,
    phpVersion: data.php_version ?? DEBIAN_PACKAGE_VERSIONS[release].php,
    webserverType: data.webserver_type ?? 'nginx-fpm',
    webimageExtraPackages: data.webimage_extra_packages,
    dbimageExtraPackages: data.dbimage_extra_packages,
  };
}

function readYaml(text: string): unknown {
  try {
    const document: unknown = parseYaml(text);
    if (
      document !== null &&
      document !== undefined &&
      (typeof document !== 'object' || Array.isArray(document))
    ) {
      throw new ProjectConfigError([
        'The file must be a YAML mapping of keys to values, such as "php_version: 8.4".',
      ]);
    }
    return document;
  } catch (error) {
    if (!(error instanceof YAMLParseError)) throw error;
    const where = error.linePos ? ` on line ${error.linePos[0].line}` : '';
    throw new ProjectConfigError([
      `It is not valid YAML${where}: ${error.message.split('\n')[0]}.`,
    ]);
  }
}

/** Writes a Zod path as the YAML reader sees it: `webimage_extra_packages[1]`. */
function keyPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) =>
      typeof part === 'number' ? `[${part}]` : `${index > 0 ? '.' : ''}${String(part)}`,
    )
    .join('');
}

function sentence(message: string): string {
  return message.endsWith('.') ? message : `${message}.`;
}
