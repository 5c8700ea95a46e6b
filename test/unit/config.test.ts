import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ConfigError, loadConfig } from '../../lab-server/src/config.ts';

describe('config', () => {
  test('defaults listen on loopback', () => {
    const config = loadConfig([], {});

    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 4321);
    assert.equal(config.instance, 'default');
    assert.ok(Object.isFrozen(config));
  });

  test('flags win over environment', () => {
    const config = loadConfig(['--port', '5000', '--host', '0.0.0.0'], { LAB_PORT: '6000' });

    assert.equal(config.port, 5000);
    assert.equal(config.host, '0.0.0.0');
  });

  test('lists every invalid value', () => {
    const error = captureError(() =>
      loadConfig([], { LAB_PORT: 'eighty', LAB_CONTAINER_MEMORY_MB: '-1' }),
    );

    assert.equal(error.problems.length, 2);
    assert.match(error.problems[0]!, /^LAB_PORT \(or --port\)="eighty": .*Set it to the TCP port/);
    assert.match(error.problems[1]!, /^LAB_CONTAINER_MEMORY_MB="-1": .*Set it to the memory limit/);
  });

  test('session cap follows the host', () => {
    const local = loadConfig([], {});
    const room = loadConfig(['--host', '0.0.0.0'], {});
    const proxied = loadConfig([], { LAB_TRUST_PROXY: 'loopback, 10.0.0.0/8' });
    const chosen = loadConfig(['--host', '0.0.0.0'], { LAB_SESSIONS_PER_CLIENT: '0' });

    assert.equal(local.sessionsPerClient, 0);
    assert.equal(room.sessionsPerClient, 3);
    assert.equal(proxied.sessionsPerClient, 3);
    assert.deepEqual(proxied.trustProxy, ['loopback', '10.0.0.0/8']);
    assert.equal(chosen.sessionsPerClient, 0);
  });

  test('rejects invalid proxy addresses', () => {
    const error = captureError(() =>
      loadConfig([], { LAB_TRUST_PROXY: '10.0.0.0/33', LAB_SESSIONS_PER_CLIENT: 'many' }),
    );

    assert.equal(error.problems.length, 2);
    assert.match(
      error.problems.join('\n'),
      /^LAB_SESSIONS_PER_CLIENT="many": .*Set it to the lab sessions one client address may run at once/m,
    );
    assert.match(error.problems.join('\n'), /^LAB_TRUST_PROXY=\["10.0.0.0\/33"\]: .*CIDR ranges/m);
  });

  test('allowed hosts are names, not URLs', () => {
    const config = loadConfig([], { LAB_ALLOWED_HOSTS: 'lab.example.org, proxy.example.org:8443' });
    const error = captureError(() =>
      loadConfig([], { LAB_ALLOWED_HOSTS: 'https://lab.example.org/' }),
    );

    assert.deepEqual(config.allowedHosts, ['lab.example.org', 'proxy.example.org:8443']);
    assert.deepEqual(loadConfig([], {}).allowedHosts, []);
    assert.match(
      error.problems[0]!,
      /^LAB_ALLOWED_HOSTS=\["https:\/\/lab.example.org\/"\]: comma-separated host names/,
    );
  });

  test('log format follows the setting', () => {
    assert.equal(loadConfig([], { LAB_LOG_FORMAT: 'text' }).logFormat, 'text');
    assert.equal(loadConfig([], { LAB_LOG_FORMAT: 'json' }).logFormat, 'json');
    assert.equal(loadConfig([], { LAB_PRETTY_LOGS: '1' }).logFormat, 'text');
    assert.equal(loadConfig([], { LAB_PRETTY_LOGS: '0' }).logFormat, 'json');
    assert.equal(
      loadConfig([], { LAB_LOG_FORMAT: 'json', LAB_PRETTY_LOGS: '1' }).logFormat,
      'json',
    );
    assert.equal(
      loadConfig([], { LAB_LOG_FORMAT: 'auto' }).logFormat,
      process.stdout.isTTY === true ? 'text' : 'json',
    );
  });

  test('rejects an unknown log format', () => {
    const error = captureError(() => loadConfig([], { LAB_LOG_FORMAT: 'pretty' }));

    assert.match(
      error.problems[0]!,
      /^LAB_LOG_FORMAT="pretty": expected text, json or auto\. Set it to the log format/,
    );
  });

  test('rejects an unknown flag', () => {
    const error = captureError(() => loadConfig(['--hots', 'x'], {}));

    assert.match(error.problems[0]!, /Unknown option '--hots'.*Allowed flags: --host, --port/);
  });
});

function captureError(action: () => unknown): ConfigError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error;
  }
  assert.fail('no error was thrown');
}
