/**
 * @module What goes to a backend for one client request: its method and target as the
 * client sent them, its headers rewritten for the hop (proxy-headers.ts), its body as it
 * travels (request-body.ts), the upgrade it asks for, and with --send-proxy-protocol the
 * client the PROXY header names. Built once; every attempt of the exchange sends it.
 */
import type { Readable } from 'node:stream';
import type { FrontRequest } from '../front/front-request.ts';
import { clientAddress, clientPort } from '../shared/client-address.ts';
import type { UpstreamRequest } from '../upstream/upstream-request.ts';
import { upstreamRequestHeaders } from './proxy-headers.ts';
import type { RelayContext } from './relay-context.ts';

export function outgoingRequest(req: FrontRequest, body: Readable | Buffer | null, context: Pick<RelayContext, 'sticky' | 'upstream'>): UpstreamRequest {
  const address = clientAddress(req.socket) ?? '';
  return {
    method: req.method,
    // Byte for byte as the client sent it: the listener has already turned an
    // absolute-form target into its path, and nothing here normalises it.
    path: req.url,
    headers: upstreamRequestHeaders(req.rawHeaders, {
      clientAddress: address,
      proto: 'encrypted' in req.socket ? 'https' : 'http',
      httpVersion: req.httpVersion,
      stickyCookie: context.sticky?.cookie ?? null,
    }),
    body,
    upgrade: req.upgrade,
    proxy:
      context.upstream.sendProxyProtocol === null
        ? null
        : {
            client: { address, port: clientPort(req.socket) },
            local: { address: req.socket.localAddress ?? '', port: req.socket.localPort ?? 0 },
            connection: req.socket,
          },
  };
}
