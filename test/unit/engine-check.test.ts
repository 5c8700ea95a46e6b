import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  checkEngine,
  effectiveDiskPolicy,
  effectiveRuncPolicy,
  UnsafeRuntimeError,
} from '../../lab-server/src/guards/engine-check.ts';
import type { EngineFacts } from '../../lab-server/src/sandbox/runtime.ts';

function facts(overrides: Partial<EngineFacts>): EngineFacts {
  return {
    serverVersion: '28.0.0',
    runcVersion: '1.3.3',
    userNamespaces: true,
    seccomp: true,
    storageQuota: true,
    ...overrides,
  };
}

describe('engine check', () => {
  test('accepts a fixed runc quietly', () => {
    assert.deepEqual(checkEngine(facts({}), 'strict').warnings, []);
  });

  test('rejects a learner-reachable escape', () => {
    assert.throws(
      () => checkEngine(facts({ runcVersion: '1.1.11' }), 'learner'),
      (error: unknown) =>
        error instanceof UnsafeRuntimeError &&
        /runc 1\.1\.11.*CVE-2024-21626.*fixed in runc 1\.1\.12.*Upgrade runc/.test(error.message),
    );
  });

  test('warns on image-only escapes', () => {
    const verdict = checkEngine(facts({ runcVersion: '1.1.5+ds1-1+deb12u1' }), 'learner');

    assert.equal(verdict.warnings.length, 1);
    assert.match(
      verdict.warnings[0]!,
      /CVE-2025-31133.*upgrade runc to 1\.2\.8 or 1\.3\.3 or 1\.4\.0 or newer before serving a room/,
    );
  });

  test('strict rejects image-only escapes', () => {
    assert.throws(
      () => checkEngine(facts({ runcVersion: '1.2.7' }), 'strict'),
      /CVE-2025-31133.*fixed in runc 1\.2\.8, 1\.3\.3, 1\.4\.0.*set LAB_RUNC_POLICY=learner/,
    );
  });

  test('rejects an unknown runc', () => {
    assert.throws(
      () => checkEngine(facts({ runcVersion: undefined }), 'learner'),
      /runc an unknown version/,
    );
  });

  test('warns when user namespaces are off', () => {
    const verdict = checkEngine(facts({ userNamespaces: false, storageQuota: false }), 'learner');

    assert.equal(verdict.warnings.length, 2);
    assert.match(verdict.warnings[0]!, /User namespaces are off/);
    assert.match(verdict.warnings[1]!, /cannot cap a container's writable layer/);
  });
});

describe('runc policy auto', () => {
  test('loopback alone is lenient', () => {
    assert.equal(effectiveRuncPolicy('auto', '127.0.0.1', []), 'learner');
    assert.equal(effectiveRuncPolicy('auto', 'localhost', []), 'learner');
  });

  test('a room or a proxy is strict', () => {
    assert.equal(effectiveRuncPolicy('auto', '0.0.0.0', []), 'strict');
    assert.equal(effectiveRuncPolicy('auto', '192.168.1.10', []), 'strict');
    assert.equal(effectiveRuncPolicy('auto', '127.0.0.1', ['loopback']), 'strict');
  });

  test('an explicit setting wins', () => {
    assert.equal(effectiveRuncPolicy('learner', '0.0.0.0', ['loopback']), 'learner');
    assert.equal(effectiveRuncPolicy('strict', '127.0.0.1', []), 'strict');
  });
});

describe('disk policy', () => {
  test('auto is enforced for a room', () => {
    assert.equal(effectiveDiskPolicy('auto', '127.0.0.1', []), 'measured');
    assert.equal(effectiveDiskPolicy('auto', '0.0.0.0', []), 'enforced');
    assert.equal(effectiveDiskPolicy('auto', '127.0.0.1', ['loopback']), 'enforced');
    assert.equal(effectiveDiskPolicy('measured', '0.0.0.0', []), 'measured');
  });

  test('enforced needs engine quotas', () => {
    const engine: EngineFacts = {
      serverVersion: '28.0.0',
      runcVersion: '1.4.0',
      userNamespaces: true,
      seccomp: true,
      storageQuota: false,
    };

    assert.throws(
      () => checkEngine(engine, 'strict', 'enforced'),
      (error: unknown) => {
        assert.ok(error instanceof UnsafeRuntimeError);
        assert.match(
          error.message,
          /cannot cap a container's writable layer.*set LAB_DISK_POLICY=measured/,
        );
        return true;
      },
    );
    assert.doesNotThrow(() => checkEngine({ ...engine, storageQuota: true }, 'strict', 'enforced'));
    assert.doesNotThrow(() => checkEngine(engine, 'strict', 'measured'));
  });
});
