/*
 * Node-compatible sockets for rump kernels: createNet(sys) gives an object
 * shaped like Node's net module (createServer, connect/createConnection,
 * Socket, Server, isIP...) whose sockets are kernel sockets reached
 * through the syscall surface SysApi.  The same code therefore runs on an
 * embedded kernel (kernel.sys), on a remote one through the syscall proxy
 * (RumpClient), on the in-kernel TCP/IP stack or on libsockin.
 *
 * Importing this module also gives every Kernel a `net` property (its
 * createNet(kernel.sys), made once per kernel):
 *
 *   import '../lib/nodenet/net.ts';
 *   const srv = kernel.net.createServer((s) => s.pipe(s)).listen(7);
 *
 * The kernel itself never imports it: the kernel bundles for browsers and
 * this module needs node:stream.  node:http runs on these sockets
 * unchanged; lib/nodenet/http.ts has the two lines that join them.
 */

import { isIP, isIPv4, isIPv6 } from 'node:net';
import { Kernel } from '../../librump/rumpkern/rump.ts';
import type { SysApi } from '../../include/sysapi.ts';
import { NetContext } from './context.ts';
import { NetServer, type ServerOptions } from './server.ts';
import { NetSocket, normalizeConnectArgs, type NetConnectOptions, type SocketOptions } from './socket.ts';

export { NetSocket, NetServer, NetContext };
export { NetError } from './errors.ts';
export type { AddressInfo, IpcConnectOptions, LookupFunction, NetConnectOptions, SocketOptions, TcpConnectOptions } from './socket.ts';
export type { ListenOptions, ServerOptions } from './server.ts';

type ConnectionListener = (socket: NetSocket) => void;

/** The net module of one syscall surface. */
export interface Net {
  /** The syscalls these sockets use. */
  readonly sys: SysApi;
  readonly Socket: new (options?: SocketOptions) => NetSocket;
  readonly Server: new (options?: ServerOptions | ConnectionListener, listener?: ConnectionListener) => NetServer;
  createServer(options?: ServerOptions | ConnectionListener, listener?: ConnectionListener): NetServer;
  connect(options: NetConnectOptions, connectListener?: () => void): NetSocket;
  connect(port: number | string, host?: string, connectListener?: () => void): NetSocket;
  connect(path: string, connectListener?: () => void): NetSocket;
  createConnection(options: NetConnectOptions, connectListener?: () => void): NetSocket;
  createConnection(port: number | string, host?: string, connectListener?: () => void): NetSocket;
  createConnection(path: string, connectListener?: () => void): NetSocket;
  isIP(input: string): number;
  isIPv4(input: string): boolean;
  isIPv6(input: string): boolean;
  /** Open, ref'd sockets and servers: what keeps the process alive. */
  readonly handles: number;
}

/** A net module whose sockets are sys's kernel sockets. */
export function createNet(sys: SysApi): Net {
  const ctx = new NetContext(sys);
  class Socket extends NetSocket {
    constructor(options?: SocketOptions) {
      super(ctx, options);
    }
  }
  const mksocket = (opts: SocketOptions): NetSocket => new Socket(opts);
  class Server extends NetServer {
    constructor(options?: ServerOptions | ConnectionListener, listener?: ConnectionListener) {
      super(ctx, mksocket, options, listener);
    }
  }
  function connect(...args: unknown[]): NetSocket {
    const { options } = normalizeConnectArgs(args);
    const s = new Socket(options);
    return (s.connect as (...a: unknown[]) => NetSocket)(...args);
  }
  return {
    sys,
    Socket,
    Server,
    createServer: (options, listener) => new Server(options, listener),
    connect: connect as Net['connect'],
    createConnection: connect as Net['createConnection'],
    isIP,
    isIPv4,
    isIPv6,
    get handles() {
      return ctx.held;
    },
  };
}

declare module '../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** Node-compatible sockets on this kernel (present once lib/nodenet/net.ts is imported). */
    readonly net: Net;
  }
}

/* One Net per kernel, made on first use; it goes with the kernel. */
const kernelNets = new WeakMap<Kernel, Net>();

if (!Object.prototype.hasOwnProperty.call(Kernel.prototype, 'net')) {
  Object.defineProperty(Kernel.prototype, 'net', {
    configurable: true,
    get(this: Kernel): Net {
      let n = kernelNets.get(this);
      if (n === undefined) {
        n = createNet(this.sys);
        kernelNets.set(this, n);
      }
      return n;
    },
  });
}
