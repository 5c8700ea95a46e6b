import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  assertPlainDockerfile,
  remoteAddSource,
  UnplainDockerfileError,
} from '../../lab-server/src/project-build/plain-dockerfile.ts';
import { checkDockerfile } from '../../lab-server/src/docker-proxy/dockerfile-check.ts';

const rejects = (text: string, pattern: RegExp) =>
  assert.throws(
    () => assertPlainDockerfile(text, 'web-build/Dockerfile.x'),
    (error: unknown) => error instanceof UnplainDockerfileError && pattern.test(error.message),
  );

describe('plain Dockerfile', () => {
  test('accepts ordinary text', () => {
    assert.doesNotThrow(() =>
      assertPlainDockerfile(
        'FROM $BASE_IMAGE\n# a comment\nRUN apt-get update && \\\n    apt-get install -y tree\n\tENV A=é\n',
        'x',
      ),
    );
  });

  const cases: [string, string, RegExp][] = [
    ['form feed after backslash', 'RUN echo hi \\\f\nCOPY --from=other / /\n', /U\+000c on line 1/],
    ['vertical tab', 'RUN true\u000b\n', /U\+000b/],
    ['carriage return', 'RUN true\r\n', /U\+000d/],
    ['byte-order mark', '\ufeff# escape=`\nRUN true\n', /U\+feff on line 1/],
    ['no-break space', 'RUN echo \\\u00a0\nCOPY x y\n', /U\+00a0/],
    ['line separator', 'RUN echo \\\u2028COPY x y\n', /U\+2028/],
    ['escape directive', '# escape=`\nRUN true\n', /parser directive "escape"/],
    ['syntax directive', '#syntax=docker/dockerfile:1\nRUN true\n', /parser directive "syntax"/],
    ['trailing continuation', 'RUN true \\\n', /ends with a backslash/],
    ['continuation before comments', 'RUN true \\\n# hidden\n\n', /ends with a backslash/],
  ];

  for (const [name, text, pattern] of cases) {
    test(`rejects ${name}`, () => rejects(text, pattern));
  }

  test('finds remote ADD sources', () => {
    assert.equal(remoteAddSource(' http://127.0.0.1:8080/x /tmp/x'), 'http://127.0.0.1:8080/x');
    assert.equal(
      remoteAddSource(' --chown=1 HTTPS://example.invalid/x /x'),
      'HTTPS://example.invalid/x',
    );
    assert.equal(
      remoteAddSource(' git@example.invalid:repo.git /src'),
      'git@example.invalid:repo.git',
    );
    assert.equal(remoteAddSource(' $URL /x'), '$URL');
    assert.equal(remoteAddSource(' files/a.txt /a.txt'), undefined);
  });

  test('proxy rejects a smuggled line', () => {
    const text =
      'FROM ddev-lab/ddev-base:trixie\nRUN echo hi \\\f\nCOPY --from=lab-0000000000000000/secret /s /s\n';

    assert.throws(() => checkDockerfile(text, {}), /U\+000c on line 2/);
  });
});
