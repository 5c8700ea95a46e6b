import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { openEscapes, parseRuncVersion } from '../../lab-server/src/guards/runc.ts';

const cves = (version: string | undefined) =>
  openEscapes(version).map((escape) => escape.cve.split(',')[0]);

describe('runc escapes', () => {
  test('parses the usual formats', () => {
    assert.deepEqual(parseRuncVersion('1.1.12'), [1, 1, 12, Number.MAX_SAFE_INTEGER]);
    assert.deepEqual(parseRuncVersion('v1.2.8-0-g1234'), [1, 2, 8, Number.MAX_SAFE_INTEGER]);
    assert.deepEqual(parseRuncVersion('1.0.0-rc6'), [1, 0, 0, 6]);
    assert.deepEqual(parseRuncVersion('1.1.5+ds1-1+deb12u1'), [1, 1, 5, Number.MAX_SAFE_INTEGER]);
    assert.equal(parseRuncVersion('unknown'), undefined);
  });

  const table: [string | undefined, string[]][] = [
    ['1.0.0-rc6', ['CVE-2019-5736', 'CVE-2024-21626', 'CVE-2025-31133']],
    ['1.1.11', ['CVE-2024-21626', 'CVE-2025-31133']],
    ['1.1.12', ['CVE-2025-31133']],
    ['1.1.5+ds1-1+deb12u1', ['CVE-2025-31133']],
    ['1.1.5+ds1-1', ['CVE-2024-21626', 'CVE-2025-31133']],
    ['1.2.7', ['CVE-2025-31133']],
    ['1.2.8', []],
    ['1.3.2', ['CVE-2025-31133']],
    ['v1.3.3-0-gabcdef', []],
    ['1.4.0-rc.2', ['CVE-2025-31133']],
    ['1.4.0', []],
    ['1.5.1', []],
    [undefined, ['CVE-2019-5736', 'CVE-2024-21626', 'CVE-2025-31133']],
  ];

  for (const [version, expected] of table) {
    test(`open escapes of ${version}`, () => {
      assert.deepEqual(cves(version), expected);
    });
  }
});
