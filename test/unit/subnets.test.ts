import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { freeSubnets, gatewayOf, parseCidr } from '../../lab-server/src/sandbox/subnets.ts';

describe('subnet pool', () => {
  test('parses and aligns a range', () => {
    assert.deepEqual(parseCidr('10.213.0.0/16'), {
      base: 10 * 2 ** 24 + 213 * 2 ** 16,
      prefix: 16,
    });
    assert.deepEqual(parseCidr('10.213.5.7/16'), parseCidr('10.213.0.0/16'));
  });

  test('rejects invalid ranges', () => {
    assert.throws(() => parseCidr('10.213.0.0'), /CIDR notation/);
    assert.throws(() => parseCidr('300.1.1.1/16'), /not a valid/);
  });

  test('carves the range into subnets', () => {
    const free = freeSubnets({ range: '10.213.0.0/24', prefix: 27 }, []);

    assert.equal(free.length, 8);
    assert.deepEqual([...free].sort(), [
      '10.213.0.0/27',
      '10.213.0.128/27',
      '10.213.0.160/27',
      '10.213.0.192/27',
      '10.213.0.224/27',
      '10.213.0.32/27',
      '10.213.0.64/27',
      '10.213.0.96/27',
    ]);
  });

  test('skips used and overlapping subnets', () => {
    const free = freeSubnets({ range: '10.213.0.0/24', prefix: 27 }, [
      '10.213.0.0/27',
      '10.213.0.64/26',
      '172.17.0.0/16',
      'not-a-cidr',
    ]);

    assert.deepEqual([...free].sort(), [
      '10.213.0.128/27',
      '10.213.0.160/27',
      '10.213.0.192/27',
      '10.213.0.224/27',
      '10.213.0.32/27',
    ]);
  });

  test('a used supernet takes everything', () => {
    assert.deepEqual(freeSubnets({ range: '10.213.0.0/24', prefix: 27 }, ['10.0.0.0/8']), []);
  });

  test('gateway is the first host', () => {
    assert.equal(gatewayOf('10.213.4.32/27'), '10.213.4.33');
  });

  test('rejects a prefix that does not fit', () => {
    assert.throws(() => freeSubnets({ range: '10.213.0.0/24', prefix: 20 }, []), /does not fit/);
  });
});
