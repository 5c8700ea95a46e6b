// The client address that per-address limits count by, as Express finds it: the connection's
// peer, or, when the peer is a proxy that LAB_TRUST_PROXY lists, the nearest address in
// X-Forwarded-For that is not such a proxy. A client that sends the header itself cannot forge
// it, because only trusted proxies' entries are skipped.
import type { Request } from 'express';

export function clientAddress(request: Request): string {
  return request.ip ?? request.socket.remoteAddress ?? 'unknown';
}
