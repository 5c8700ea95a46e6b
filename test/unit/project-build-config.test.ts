// The .ddev/config.yaml keys that shape the built images, and the errors for invalid values.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ProjectConfigError } from '../../lab-server/src/project-build/errors.ts';
import { parseProjectConfig } from '../../lab-server/src/project-build/project-config.ts';

describe('project config', () => {
  test('defaults for an empty file', () => {
    const config = parseProjectConfig('');

    assert.deepEqual(config, {
      name: undefined,
      phpVersion: '8.4',
      webserverType: 'nginx-fpm',
      webimageExtraPackages: [],
      dbimageExtraPackages: [],
    });
  });

  test('reads the keys and ignores others', () => {
    const config = parseProjectConfig(
      [
        'name: demo',
        'type: drupal11',
        'docroot: web',
        'php_version: "8.4"',
        'webserver_type: apache-fpm',
        'webimage_extra_packages: [figlet, "php${DDEV_PHP_VERSION}-tidy"]',
        'dbimage_extra_packages:',
        '  - netcat-openbsd',
        'database: { type: mariadb, version: "11.8" }',
      ].join('\n'),
    );

    assert.equal(config.name, 'demo');
    assert.equal(config.webserverType, 'apache-fpm');
    assert.deepEqual(config.webimageExtraPackages, ['figlet', 'php${DDEV_PHP_VERSION}-tidy']);
    assert.deepEqual(config.dbimageExtraPackages, ['netcat-openbsd']);
  });

  test('accepts a number php_version', () => {
    assert.equal(parseProjectConfig('php_version: 8.4').phpVersion, '8.4');
  });

  test('accepts null package lists', () => {
    assert.deepEqual(parseProjectConfig('webimage_extra_packages:').webimageExtraPackages, []);
  });

  test('bookworm allows its PHP', () => {
    assert.equal(parseProjectConfig('php_version: "8.2"', 'bookworm').phpVersion, '8.2');
  });

  const invalid: Array<[string, string, RegExp]> = [
    [
      'php_version 8.2 on trixie',
      'php_version: "8.2"',
      /^php_version: "8\.2" is not available: .*Debian 13 .*use "8\.4"/,
    ],
    [
      'webserver_type',
      'webserver_type: caddy',
      /^webserver_type: "caddy" is not valid; use one of nginx-fpm, apache-fpm, generic/,
    ],
    [
      'package with a space',
      'webimage_extra_packages: ["figlet; rm -rf /"]',
      /^webimage_extra_packages\[0\]: "figlet; rm -rf \/" is not a Debian package name/,
    ],
    [
      'upper-case package',
      'dbimage_extra_packages: [Figlet]',
      /^dbimage_extra_packages\[0\]: "Figlet" is not a Debian package name/,
    ],
    [
      'package list as text',
      'webimage_extra_packages: figlet',
      /^webimage_extra_packages: must be a list of Debian package names/,
    ],
    [
      'too many packages',
      `webimage_extra_packages: [${Array.from({ length: 41 }, (_, i) => `p${i}`).join(', ')}]`,
      /may list at most 40 packages/,
    ],
    ['project name', 'name: "my project"', /^name: must be letters, digits and dashes/],
  ];

  for (const [name, text, expected] of invalid) {
    test(`rejects ${name}`, () => {
      assert.throws(
        () => parseProjectConfig(text),
        (error: unknown) => {
          assert.ok(error instanceof ProjectConfigError, String(error));
          assert.equal(error.problems.length, 1, error.problems.join('\n'));
          assert.match(error.problems[0]!, expected);
          assert.equal(error.status, 400);
          return true;
        },
      );
    });
  }

  test('rejects invalid YAML with its line', () => {
    assert.throws(
      () => parseProjectConfig('name: demo\nwebimage_extra_packages: [figlet\n'),
      /not valid YAML on line \d/,
    );
  });

  test('rejects a list document', () => {
    assert.throws(() => parseProjectConfig('- figlet\n'), /must be a YAML mapping/);
  });

  test('lists every invalid key', () => {
    assert.throws(
      () => parseProjectConfig('php_version: "7.4"\nwebserver_type: iis\n'),
      (error: unknown) => {
        assert.ok(error instanceof ProjectConfigError);
        assert.equal(error.problems.length, 2);
        assert.match(
          error.message,
          /^\.ddev\/config\.yaml is invalid: php_version: .* webserver_type: /,
        );
        return true;
      },
    );
  });
});
