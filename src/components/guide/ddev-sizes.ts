/*
 * DDEV's own published image sizes, matched to our images by short name.
 * The uncompressed figure was measured in a 2024 pull request on local arm64
 * builds of v1.23.4 plus development commits; the compressed ones come from a
 * later pull request (v1.23.5) and the v1.24.0 release notes. We know of no
 * figure for v1.25 (Debian trixie) or for any image other than ddev-webserver.
 */
export interface DdevSize {
  counterpart: string;
  published: string;
}

const webserver: DdevSize = {
  counterpart: 'ddev/ddev-webserver',
  published:
    '1.62 GB uncompressed (v1.23.4 plus development commits, arm64); 480 MB compressed (v1.23.5); ' +
    '361 to 377 MB compressed (v1.24.0)',
};

const rules: { match: RegExp; size: DdevSize }[] = [
  { match: /webserver/, size: webserver },
  {
    match: /php-base/,
    size: {
      counterpart: 'ddev/ddev-php-base (v1.22 to v1.25.3)',
      published: 'no published figure',
    },
  },
  {
    match: /postgres/,
    size: { counterpart: 'postgres:<version>, used as it is', published: 'not part of DDEV' },
  },
  {
    match: /mariadb/,
    size: { counterpart: 'ddev/ddev-dbserver-mariadb-<version>', published: 'no published figure' },
  },
  {
    match: /mysql|dbserver/,
    size: { counterpart: 'ddev/ddev-dbserver-*', published: 'no published figure' },
  },
  {
    match: /router/,
    size: { counterpart: 'ddev/ddev-traefik-router', published: 'no published figure' },
  },
  {
    match: /base/,
    size: { counterpart: 'debian:<release>-slim', published: 'not part of DDEV' },
  },
];

/** Returns DDEV's counterpart of one of our images, naming the Debian release it was built on. */
export function ddevSizeFor(imageName: string, release = 'trixie'): DdevSize {
  const rule = rules.find(({ match }) => match.test(imageName));
  const size = rule?.size ?? { counterpart: 'none', published: 'no published figure' };
  return { ...size, counterpart: size.counterpart.replace('<release>', release) };
}
