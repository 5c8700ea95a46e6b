// One learner session's Docker API proxy: an HTTP server on the session's Unix socket that
// parses each call, refuses what the lab does not allow, and passes the rest to the engine.
import http from 'node:http';
import type { Duplex } from 'node:stream';

import type { Logger } from '../log.ts';
import { ENGINE_API_VERSION } from '../sandbox/engine-socket.ts';
import {
  containerCall,
  createContainer,
  createExec,
  execCall,
  listContainers,
} from './calls-containers.ts';
import { build, imageCall, listImages, removeImage } from './calls-images.ts';
import type { ProxyContext } from './context.ts';
import { forward, forwardJson, sendJson, sendRefusal } from './forward.ts';
import { ProxyRefusal } from './refusals.ts';
import { parseRequest, type Route } from './routes.ts';
import { openStream } from './streams.ts';

type Call = {
  request: http.IncomingMessage;
  response: http.ServerResponse;
  query: URLSearchParams;
};

export class SessionProxy {
  readonly context: ProxyContext;
  private readonly server: http.Server;
  private readonly log: Logger;
  private readonly streams = new Set<Duplex>();

  constructor(context: ProxyContext, log: Logger) {
    this.context = context;
    this.log = log.child({ sessionId: context.sessionId, labId: context.session.labId });
    this.server = http.createServer((request, response) => void this.handle(request, response));
    this.server.on(
      'upgrade',
      (request: http.IncomingMessage, socket: Duplex, head: Buffer) =>
        void this.upgrade(request, socket, head),
    );
  }

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => resolve());
    });
  }

  /** Stops listening and cuts every open connection and stream; safe to call twice. */
  async close(): Promise<void> {
    for (const stream of this.streams) stream.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): Promise<void> {
    try {
      const { route, query } = parseRequest(request.method ?? 'GET', request.url ?? '/');
      this.log.debug({ call: `${request.method} ${request.url}` }, 'docker call');
      await this.dispatch(route, { request, response, query });
    } catch (error) {
      this.answerError(error, request, response);
    }
  }

  private dispatch(route: Route, call: Call): Promise<void> {
    const { context } = this;
    switch (route.call) {
      case 'ping':
        return ping(call);
      case 'version':
        return forward(context.engine, call.request, call.response, {
          method: 'GET',
          path: '/version',
        });
      case 'info':
        return info(context, call);
      case 'containers.list':
        return listContainers(context, call);
      case 'containers.create':
        return createContainer(context, call);
      case 'containers.exec':
        return createExec(context, route.id, call);
      case 'containers.attach':
        throw new ProxyRefusal(
          400,
          'attach needs an upgraded connection, as `docker attach` makes',
        );
      case 'exec.start':
      case 'exec.resize':
      case 'exec.inspect':
        return execCall(context, route.call, route.id, call);
      case 'images.list':
        return listImages(context, call);
      case 'images.inspect':
      case 'images.history':
        return imageCall(context, route.call, route.ref, call);
      case 'images.remove':
        return removeImage(context, route.ref, call);
      case 'build':
        return build(context, call);
      case 'networks.list':
        return listNetworks(context, call);
      case 'networks.inspect':
        return context.ownNetwork(route.id).then((network) =>
          forward(context.engine, call.request, call.response, {
            method: 'GET',
            path: `/networks/${network.Id}`,
          }),
        );
      default:
        return containerCall(context, route.call, route.id, call);
    }
  }

  /** Attach and exec start with a stream: checked like any call, then bytes flow both ways. */
  private async upgrade(
    request: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ): Promise<void> {
    try {
      this.log.debug({ call: `${request.method} ${request.url}` }, 'docker stream');
      const stream = await openStream(this.context, request, socket, head);
      this.streams.add(stream);
      stream.once('close', () => this.streams.delete(stream));
    } catch (error) {
      const status = error instanceof ProxyRefusal ? error.status : 500;
      const message = error instanceof ProxyRefusal ? error.message : this.failure(error, request);
      const body = JSON.stringify({ message });
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  }

  private answerError(
    error: unknown,
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): void {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    if (error instanceof ProxyRefusal) {
      this.log.info(
        { call: `${request.method} ${request.url}`, status: error.status },
        'docker call refused',
      );
      sendRefusal(response, error);
      return;
    }
    if (error instanceof SyntaxError) {
      sendJson(response, 400, { message: `invalid JSON: ${error.message}` });
      return;
    }
    sendJson(response, 500, { message: this.failure(error, request) });
  }

  private failure(error: unknown, request: http.IncomingMessage): string {
    this.log.error(
      { call: `${request.method} ${request.url}`, err: error },
      'docker call failed in the proxy',
    );
    return "the lab's Docker proxy could not complete this call; try again, or reset the lab";
  }
}

/** Answers the CLI's version check without the engine: the classic builder, the engine's API. */
async function ping({ request, response }: Call): Promise<void> {
  response.writeHead(200, {
    'content-type': 'text/plain; charset=utf-8',
    'api-version': ENGINE_API_VERSION,
    'builder-version': '1',
    'docker-experimental': 'false',
    ostype: 'linux',
    'cache-control': 'no-cache, no-store, must-revalidate',
  });
  response.end(request.method === 'HEAD' ? undefined : 'OK');
}

/** The engine's facts a learner may see; nothing about the host's other containers or images. */
async function info(context: ProxyContext, { response }: Call): Promise<void> {
  await forwardJson<Record<string, unknown>>(
    context.engine,
    response,
    { method: 'GET', path: '/info' },
    (engine) => {
      const kept = [
        'ServerVersion',
        'OperatingSystem',
        'OSType',
        'Architecture',
        'KernelVersion',
        'Driver',
        'CgroupDriver',
        'CgroupVersion',
        'NCPU',
        'MemTotal',
        'SecurityOptions',
      ];
      return {
        ...Object.fromEntries(kept.map((key) => [key, engine[key]])),
        ID: '',
        Name: 'ddev-lab',
        Swarm: {
          NodeID: '',
          NodeAddr: '',
          LocalNodeState: 'inactive',
          ControlAvailable: false,
          Error: '',
          RemoteManagers: null,
        },
      };
    },
  );
}

async function listNetworks(context: ProxyContext, { response }: Call): Promise<void> {
  const filters = JSON.stringify({ id: [context.session.networkId] });
  await forwardJson<{ Id: string }[]>(
    context.engine,
    response,
    { method: 'GET', path: `/networks?filters=${encodeURIComponent(filters)}` },
    (networks) => networks.filter((network) => network.Id === context.session.networkId),
  );
}
