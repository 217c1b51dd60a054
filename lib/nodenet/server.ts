/*
 * net.Server over the syscall surface: a listening kernel socket whose
 * connections come out as 'connection' events carrying NetSockets.
 *
 * Accepting.  accept(2) cannot be woken by close(2) of its own listener,
 * so a server never sleeps in accept: the listener is non-blocking and
 * the server sleeps in poll(2) on it and on a wake pipe.  A connection
 * ready on the listener (so_q not empty) ends the poll and is accepted;
 * close() writes a byte into the pipe, which ends the poll too, and the
 * server then closes the listener.  Two syscalls per connection (poll,
 * accept), one sleeping syscall while idle, nothing spins.
 *
 * As Node's: 'listening' once bound and listening, 'connection' per
 * accepted socket, 'close' when closed and every connection it accepted
 * has closed, 'error' for a failed listen (EADDRINUSE) or accept; listen()
 * takes (port, host, backlog, cb), (options, cb) or (path, cb); listening
 * inet sockets set SO_REUSEADDR, as libuv does.
 */

import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import {
  AF_INET, AF_LOCAL, SOCK_NONBLOCK, SOCK_STREAM, SO_REUSEADDR, SOL_SOCKET, type Sockaddr,
} from '../../include/socket.ts';
import { POLLIN, type PollFd } from '../../include/syscall.ts';
import type { NetContext } from './context.ts';
import { hasCode, kernelGone, netError, nodeError } from './errors.ts';
import { validatePort, type AddressInfo, type NetSocket, type SocketOptions } from './socket.ts';

export interface ServerOptions {
  allowHalfOpen?: boolean;
  /** Accepted sockets start paused (no reads until resume()). */
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
}

export interface ListenOptions {
  port?: number | string;
  host?: string;
  path?: string;
  backlog?: number;
}

/** Node's default backlog (kern.somaxconn clips it). */
const DEFAULT_BACKLOG = 511;
/** After accept fails for want of descriptors: wait this long before trying again. */
const ACCEPT_BACKOFF_MS = 100;
const WAKE = new Uint8Array(1);

type SocketFactory = (opts: SocketOptions) => NetSocket;

export class NetServer extends EventEmitter {
  /** Refuse connections beyond this many open ones (undefined: no limit). */
  maxConnections: number | undefined = undefined;

  private fd = -1;
  private wake: [number, number] | null = null;
  private starting = false;
  private closing = false;
  private conns = 0;
  private addr: Sockaddr | null = null;
  private refd = true;
  private holding = false;
  private readonly sockopts: SocketOptions;
  private readonly pauseOnConnect: boolean;

  private readonly onConnClose = (): void => {
    this.conns--;
    this.emitCloseIfDrained();
  };

  constructor(
    protected readonly ctx: NetContext,
    private readonly mksocket: SocketFactory,
    options?: ServerOptions | ((socket: NetSocket) => void),
    listener?: (socket: NetSocket) => void,
  ) {
    super();
    const opts = typeof options === 'function' ? {} : options ?? {};
    const onconn = typeof options === 'function' ? options : listener;
    if (onconn !== undefined) this.on('connection', onconn);
    this.pauseOnConnect = opts.pauseOnConnect === true;
    this.sockopts = {
      allowHalfOpen: opts.allowHalfOpen ?? false,
      ...(opts.noDelay !== undefined ? { noDelay: opts.noDelay } : {}),
      ...(opts.keepAlive !== undefined ? { keepAlive: opts.keepAlive } : {}),
      ...(opts.keepAliveInitialDelay !== undefined ? { keepAliveInitialDelay: opts.keepAliveInitialDelay } : {}),
      ...(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {}),
    };
  }

  get listening(): boolean {
    return this.wake !== null && !this.closing;
  }

  /** { address, family, port } (a local server: its path); null when not listening. */
  address(): AddressInfo | string | null {
    const a = this.addr;
    if (a === null || !this.listening) return null;
    if ('sun_path' in a) return a.sun_path;
    return { address: a.sin_addr, family: 'IPv4', port: a.sin_port };
  }

  listen(port?: number | string, host?: string, backlog?: number, cb?: () => void): this;
  listen(port: number | string, host: string, cb?: () => void): this;
  listen(port: number | string, cb?: () => void): this;
  listen(options: ListenOptions, cb?: () => void): this;
  listen(cb?: () => void): this;
  listen(...args: unknown[]): this {
    const last = args[args.length - 1];
    const cb = typeof last === 'function' ? (last as () => void) : undefined;
    const rest = cb === undefined ? args : args.slice(0, -1);
    let o: ListenOptions;
    const a0 = rest[0];
    if (a0 !== null && typeof a0 === 'object') o = a0 as ListenOptions;
    else if (typeof a0 === 'string' && a0 !== '' && Number.isNaN(Number(a0))) o = { path: a0, ...(typeof rest[1] === 'number' ? { backlog: rest[1] } : {}) };
    else {
      o = { ...(a0 !== undefined && a0 !== null ? { port: a0 as number } : {}) };
      let i = 1;
      if (typeof rest[1] === 'string') {
        o.host = rest[1];
        i = 2;
      }
      if (typeof rest[i] === 'number') o.backlog = rest[i] as number;
    }
    if (this.fd >= 0 || this.starting) throw nodeError(Error, 'ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    let sa: Sockaddr;
    if (o.path !== undefined) {
      sa = { sun_family: AF_LOCAL, sun_path: o.path };
    } else {
      const port = validatePort(o.port ?? 0);
      const host = o.host === undefined || o.host === '' ? '0.0.0.0' : o.host === 'localhost' ? '127.0.0.1' : o.host;
      if (!isIPv4(host)) throw nodeError(TypeError, 'ERR_INVALID_ARG_VALUE', `listen: host must be an IPv4 address here (the kernel has no resolver). Received '${host}'`);
      sa = { sin_family: AF_INET, sin_port: port, sin_addr: host };
    }
    const backlog = o.backlog ?? DEFAULT_BACKLOG;
    if (!Number.isInteger(backlog)) throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `listen: backlog must be an integer. Received ${String(backlog)}`);
    if (cb !== undefined) this.once('listening', cb);
    this.starting = true;
    this.closing = false;
    this.updateHold();
    void this.doListen(sa, backlog);
    return this;
  }

  private async doListen(sa: Sockaddr, backlog: number): Promise<void> {
    const sys = this.ctx.sys;
    const inet = 'sin_addr' in sa;
    const [where, port] = inet ? [sa.sin_addr, sa.sin_port] : [sa.sun_path, undefined];
    try {
      this.fd = await sys.socket(inet ? AF_INET : AF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK);
      if (inet) await sys.setsockopt(this.fd, SOL_SOCKET, SO_REUSEADDR, 1);
      await sys.bind(this.fd, sa);
      await sys.listen(this.fd, backlog);
      this.addr = inet ? await sys.getsockname(this.fd) : sa;
      this.wake = await sys.pipe();
    } catch (e) {
      await this.release();
      this.starting = false;
      this.updateHold();
      if (kernelGone(e)) this.emitCloseIfDrained();
      else this.emit('error', netError(e, 'listen', where, port, true));
      return;
    }
    this.starting = false;
    if (this.closing) {
      await this.release();
      this.updateHold();
      this.emitCloseIfDrained();
      return;
    }
    this.emit('listening');
    void this.acceptLoop(this.fd, this.wake[0]);
  }

  private async acceptLoop(lfd: number, wakefd: number): Promise<void> {
    const sys = this.ctx.sys;
    const fds: PollFd[] = [{ fd: lfd, events: POLLIN, revents: 0 }, { fd: wakefd, events: POLLIN, revents: 0 }];
    const backoff: PollFd[] = [fds[1]!];
    try {
      for (;;) {
        await sys.poll(fds, -1);
        if (this.closing) break;
        let r: { fd: number; addr: Sockaddr | null };
        try {
          r = await sys.accept(lfd);
        } catch (e) {
          /* Gone from the queue before we took it (reset, or taken by another process sharing the listener). */
          if (hasCode(e, 'EAGAIN') || hasCode(e, 'ECONNABORTED')) continue;
          if (!hasCode(e, 'EMFILE') && !hasCode(e, 'ENFILE')) throw e;
          this.emit('error', netError(e, 'accept'));
          await sys.poll(backoff, ACCEPT_BACKOFF_MS);
          continue;
        }
        if (this.closing) {
          await sys.close(r.fd);
          break;
        }
        await this.onConnection(r.fd, r.addr);
      }
    } catch (e) {
      if (!this.closing && !kernelGone(e)) this.emit('error', netError(e, 'accept'));
    } finally {
      await this.release();
      this.updateHold();
      this.emitCloseIfDrained();
    }
  }

  private async onConnection(fd: number, peer: Sockaddr | null): Promise<void> {
    const a = this.addr;
    if (this.maxConnections !== undefined && this.conns >= this.maxConnections) {
      await this.ctx.sys.close(fd);
      this.emit('drop', peer !== null && 'sin_addr' in peer && a !== null && 'sin_addr' in a
        ? { localAddress: a.sin_addr, localPort: a.sin_port, remoteAddress: peer.sin_addr, remotePort: peer.sin_port, remoteFamily: 'IPv4' }
        : {});
      return;
    }
    /* Bound to one address, the listener names the local end; on the wildcard only getsockname can. */
    const local = a !== null && 'sin_addr' in a && a.sin_addr === '0.0.0.0' ? await this.ctx.sys.getsockname(fd) : a;
    const s = this.mksocket(this.sockopts);
    s.attach(fd, local, peer);
    s.server = this;
    this.conns++;
    s.once('close', this.onConnClose);
    if (this.pauseOnConnect) s.pause();
    this.emit('connection', s);
    if (!this.pauseOnConnect && !s.isPaused()) s.read(0);
  }

  /** Close the listener and the wake pipe (the accept loop, or a listen that failed or was closed). */
  private async release(): Promise<void> {
    const sys = this.ctx.sys;
    const fds = [this.fd, ...(this.wake ?? [])];
    this.fd = -1;
    this.wake = null;
    for (const fd of fds) if (fd >= 0) await sys.close(fd).catch(ignore);
  }

  /** Stop accepting; 'close' (and cb) once every accepted connection has closed too. */
  close(cb?: (err?: Error) => void): this {
    const running = this.fd >= 0 || this.starting;
    if (cb !== undefined) {
      if (running) this.once('close', cb);
      else this.once('close', () => { cb(nodeError(Error, 'ERR_SERVER_NOT_RUNNING', 'Server is not running.')); });
    }
    if (running && !this.closing) {
      this.closing = true;
      const w = this.wake;
      if (w !== null) void this.ctx.sys.write(w[1], WAKE).catch(ignore);
      return this;
    }
    this.emitCloseIfDrained();
    return this;
  }

  private emitCloseIfDrained(): void {
    if (this.fd >= 0 || this.starting || this.conns > 0) return;
    process.nextTick(() => { this.emit('close'); });
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.conns;
    process.nextTick(() => { cb(null, n); });
    return this;
  }

  private updateHold(): void {
    const want = this.refd && (this.fd >= 0 || this.starting);
    if (want === this.holding) return;
    this.holding = want;
    this.ctx.hold(want ? 1 : -1);
  }

  ref(): this {
    this.refd = true;
    this.updateHold();
    return this;
  }

  unref(): this {
    this.refd = false;
    this.updateHold();
    return this;
  }
}

function ignore(): void {}
