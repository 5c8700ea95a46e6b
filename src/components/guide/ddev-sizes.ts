/*
 * DDEV's own published image sizes, matched to our images by short name.
 * Sources: DDEV pull requests #6569 and #6691 and the v1.24.0 release notes.
 * No figure has been published for v1.25 (Debian trixie) or for images other
 * than ddev-webserver.
 */
export interface DdevSize {
  counterpart: string;
  published: string;
}

const webserver: DdevSize = {
  counterpart: 'ddev/ddev-webserver',
  published:
    'about 1.6 GB uncompressed before v1.24 (1.62 GB, arm64 build of v1.23.4); ' +
    '480 MB compressed in v1.23.5; 361 to 377 MB compressed from v1.24.0',
};

const rules: { match: RegExp; size: DdevSize }[] = [
  { match: /webserver/, size: webserver },
  {
    match: /php-base/,
    size: { counterpart: 'ddev/ddev-php-base', published: 'no published figure' },
  },
  {
    match: /mariadb|mysql|postgres|dbserver/,
    size: { counterpart: 'ddev/ddev-dbserver-*', published: 'no published figure' },
  },
  {
    match: /router/,
    size: { counterpart: 'ddev/ddev-traefik-router', published: 'no published figure' },
  },
  {
    match: /base/,
    size: { counterpart: 'debian:trixie-slim', published: 'not part of DDEV' },
  },
];

export function ddevSizeFor(imageName: string): DdevSize {
  const rule = rules.find(({ match }) => match.test(imageName));
  return rule?.size ?? { counterpart: 'none', published: 'no published figure' };
}
