// The host firewall's rules: which bridges each one matches, and which rules of an earlier
// version the server removes.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { firewallRules, staleRules } from '../../lab-server/src/guards/host-firewall.ts';

test('resolver exceptions match egress builds only', () => {
  const rules = firewallRules(['10.255.255.53']);

  const accepts = rules.filter((rule) => rule.at(-1) === 'ACCEPT');
  assert.equal(accepts.length, 2);
  for (const rule of accepts) assert.equal(rule[rule.indexOf('-i') + 1], 'dl-x+');

  const drops = rules.filter((rule) => rule.at(-1) === 'DROP');
  for (const rule of drops) assert.equal(rule[rule.indexOf('-i') + 1], 'dl-+');
});

test('stale resolver exceptions are removed', () => {
  const listing = [
    '-N DOCKER-USER',
    '-A DOCKER-USER -d 10.255.255.53/32 -i dl-+ -p udp -m udp --dport 53 -m comment --comment "ddev-lab sandbox isolation" -j ACCEPT',
    '-A DOCKER-USER -d 10.255.255.53/32 -i dl-x+ -p udp -m udp --dport 53 -m comment --comment "ddev-lab sandbox isolation" -j ACCEPT',
    '-A DOCKER-USER -d 10.0.0.0/8 -i dl-+ ! -o dl-+ -m comment --comment "ddev-lab sandbox isolation" -j DROP',
    '-A DOCKER-USER -d 10.255.255.53/32 -i dl-+ -p udp -m udp --dport 53 -j ACCEPT',
    '-A DOCKER-USER -j RETURN',
  ].join('\n');

  assert.deepEqual(staleRules(listing), [
    [
      'DOCKER-USER',
      '-d',
      '10.255.255.53/32',
      '-i',
      'dl-+',
      '-p',
      'udp',
      '-m',
      'udp',
      '--dport',
      '53',
      '-m',
      'comment',
      '--comment',
      'ddev-lab sandbox isolation',
      '-j',
      'ACCEPT',
    ],
  ]);
});
