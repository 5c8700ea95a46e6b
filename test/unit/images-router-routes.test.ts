// Rendering router route files from VIRTUAL_HOST and HTTP_EXPOSE.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseHttpExpose, renderRouteFile } from '../../lab-server/src/images/router-routes.ts';

const route = {
  project: 'alpha',
  upstreamHost: 'ddev-alpha-web',
  virtualHost: 'alpha.ddev.site,www.alpha.ddev.site',
  httpExpose: '80:80,8025:8025',
};

test('renderRouteFile routes every host', () => {
  const file = renderRouteFile(route);

  assert.match(file, /server_name alpha\.ddev\.site www\.alpha\.ddev\.site;/);
  assert.match(file, /set \$upstream http:\/\/ddev-alpha-web:80;/);
  assert.match(file, /listen 8025;/);
  assert.equal(file.match(/^server \{$/gm)?.length, 2);
});

test('parseHttpExpose reads port pairs', () => {
  assert.deepEqual(parseHttpExpose('80:8080'), [{ routerPort: 80, containerPort: 8080 }]);
  assert.deepEqual(parseHttpExpose('80'), [{ routerPort: 80, containerPort: 80 }]);
});

test('parseHttpExpose rejects other router ports', () => {
  assert.throws(
    () => parseHttpExpose('8080:80'),
    /router port 8080; the router listens only on 80 and 8025/,
  );
  assert.throws(() => parseHttpExpose('80:x'), /Invalid port "x"/);
});

test('renderRouteFile rejects injected config', () => {
  assert.throws(
    () => renderRouteFile({ ...route, virtualHost: 'a.ddev.site; return 200' }),
    /Invalid host name/,
  );
  assert.throws(
    () => renderRouteFile({ ...route, upstreamHost: 'web;\n}' }),
    /Invalid upstream host/,
  );
  assert.throws(() => renderRouteFile({ ...route, project: '../etc' }), /Invalid project name/);
  assert.throws(
    () => renderRouteFile({ ...route, virtualHost: ' , ' }),
    /VIRTUAL_HOST of project alpha is empty/,
  );
});

test('renderRouteFile accepts wildcard hosts', () => {
  assert.match(
    renderRouteFile({ ...route, virtualHost: '*.alpha.ddev.site' }),
    /server_name \*\.alpha\.ddev\.site;/,
  );
});
