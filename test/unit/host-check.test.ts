// Which Host headers the lab server accepts: its own names only, so that a page on a name of
// someone else's that resolves to this machine (DNS rebinding) gets nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createHostCheck, hostNameOf, misdirected } from '../../lab-server/src/http/host-check.ts';

const LOOPBACK = { host: '127.0.0.1', allowedHosts: [], allowedOrigins: [] };
const noMachine = () => [];

test('host names lose port, brackets and case', () => {
  assert.equal(hostNameOf('LocalHost:4321'), 'localhost');
  assert.equal(hostNameOf('[::1]:4321'), '::1');
  assert.equal(hostNameOf('lab.example.org.'), 'lab.example.org');
  assert.equal(hostNameOf('127.0.0.1'), '127.0.0.1');
  assert.equal(hostNameOf('evil.example@127.0.0.1'), undefined);
  assert.equal(hostNameOf('127.0.0.1:4321:80'), undefined);
  assert.equal(hostNameOf('[::1'), undefined);
  assert.equal(hostNameOf(':4321'), undefined);
});

test('loopback server accepts loopback names', () => {
  const allowed = createHostCheck(LOOPBACK, noMachine);

  for (const host of [
    'localhost:4321',
    '127.0.0.1:4321',
    '[::1]:4321',
    'lab.localhost:4321',
    '127.0.0.1:4322',
    undefined,
  ]) {
    assert.equal(allowed(host), true, String(host));
  }
  for (const host of [
    'evil.example:4391',
    'evil.example',
    '127.0.0.1.nip.io:4321',
    'localhost.evil.example',
    '192.168.1.20:4321',
    '',
    'a b',
  ]) {
    assert.equal(allowed(host), false, host);
  }
});

test('room server accepts its addresses', () => {
  const machine = () => ['192.168.1.20', 'fe80::1', 'trainer', 'trainer.local'];
  const onAll = createHostCheck({ ...LOOPBACK, host: '0.0.0.0' }, machine);
  const onOne = createHostCheck({ ...LOOPBACK, host: '10.0.0.5' }, machine);

  assert.equal(onAll('192.168.1.20:4321'), true);
  assert.equal(onAll('[fe80::1]:4321'), true);
  assert.equal(onAll('trainer.local:4321'), true);
  assert.equal(onAll('127.0.0.1:4321'), true);
  assert.equal(onAll('0.0.0.0:4321'), false);
  assert.equal(onAll('evil.example:4321'), false);
  assert.equal(onOne('10.0.0.5:4321'), true);
  assert.equal(onOne('192.168.1.20:4321'), false);
});

test('allowed hosts and origins add names', () => {
  const allowed = createHostCheck(
    {
      host: '127.0.0.1',
      allowedHosts: ['lab.example.org', 'proxy.example.org:8443', '::1'],
      allowedOrigins: ['https://site.example.org'],
    },
    noMachine,
  );

  assert.equal(allowed('lab.example.org'), true);
  assert.equal(allowed('LAB.example.org:443'), true);
  assert.equal(allowed('proxy.example.org:8443'), true);
  assert.equal(allowed('site.example.org'), true);
  assert.equal(allowed('example.org'), false);
  assert.equal(allowed('sub.lab.example.org'), false);
});

test('misdirected names the setting', () => {
  const error = misdirected('evil.example:4391');

  assert.equal(error.status, 421);
  assert.match(error.message, /evil\.example:4391/);
  assert.match(error.message, /LAB_ALLOWED_HOSTS/);
});
