/*
 * node:http on kernel sockets.  Node's HTTP server and client need nothing
 * from a socket that a NetSocket lacks, so joining them is a matter of
 * where connections come from:
 *
 *   server: serveHttp(kernel.net, http.createServer(handler)).listen(80)
 *           (a NetServer that hands each accepted socket to the HTTP
 *           server's 'connection' handler, with http.Server's own socket
 *           options: half-open allowed, TCP_NODELAY);
 *   client: http.request({ host, port, agent: createHttpAgent(kernel.net) })
 *           (an http.Agent whose createConnection makes kernel sockets,
 *           so keep-alive pooling works as usual), or, without an agent,
 *           http.request({ host, port, createConnection: () => kernel.net.createConnection(port, host) }).
 */

import { Agent, type AgentOptions, type ClientRequestArgs, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Net, NetConnectOptions, NetServer } from './net.ts';

class KernelAgent extends Agent {
  constructor(private readonly knet: Net, options?: AgentOptions) {
    super(options);
  }

  override createConnection(options: ClientRequestArgs): Duplex {
    return this.knet.createConnection(options as NetConnectOptions);
  }
}

/** An http.Agent whose connections are net's sockets. */
export function createHttpAgent(net: Net, options?: AgentOptions): Agent {
  return new KernelAgent(net, options);
}

/** A NetServer (not yet listening) that serves httpServer's requests on net's sockets. */
export function serveHttp(net: Net, httpServer: HttpServer): NetServer {
  return net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => { httpServer.emit('connection', socket); });
}
