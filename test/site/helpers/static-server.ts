// Serves the built site (dist/) on a free loopback port, the way a static host would:
// `/path/` serves `/path/index.html`, and a missing file gets dist/404.html with status 404.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.xml': 'application/xml',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
};

export interface StaticServer extends AsyncDisposable {
  url: string;
  close(): Promise<void>;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Maps a request path to a file inside root, or undefined when it would leave root. */
function resolveInside(root: string, pathname: string): string | undefined {
  const relative = decodeURIComponent(pathname).replace(/\/$/, '/index.html');
  const file = path.resolve(root, `.${relative}`);
  return file.startsWith(root + path.sep) ? file : undefined;
}

function send(response: ServerResponse, status: number, file: string): void {
  const type = CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream';
  response.writeHead(status, { 'content-type': type });
  createReadStream(file).pipe(response);
}

async function handle(root: string, request: IncomingMessage, response: ServerResponse) {
  const { pathname } = new URL(request.url ?? '/', 'http://127.0.0.1');
  const file = resolveInside(root, pathname);

  if (file && (await isFile(file))) return send(response, 200, file);

  const notFound = path.join(root, '404.html');
  if (await isFile(notFound)) return send(response, 404, notFound);
  response.writeHead(404).end();
}

export async function startStaticServer(root: string): Promise<StaticServer> {
  const absoluteRoot = path.resolve(root);
  const server = createServer((request, response) => {
    handle(absoluteRoot, request, response).catch((error: Error) => {
      response.writeHead(500).end(error.message);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url: `http://127.0.0.1:${port}`, close, [Symbol.asyncDispose]: close };
}
