/*
 * net.Socket over the syscall surface (SysApi): a Duplex stream on one
 * kernel socket descriptor, so that code written for Node's net module,
 * node:http included, runs on a rump kernel's TCP (or on libsockin, or on
 * a remote kernel through the syscall proxy) unchanged.
 *
 * I/O model.  The descriptor is blocking and every transfer is one
 * syscall that sleeps in the kernel: a socket that is being read has one
 * read(2) outstanding, a socket being written one write(2) or sendmsg(2).
 * The kernel does the waiting, so there is no readiness polling and no
 * syscall that finds nothing to do.  Closing the descriptor wakes both
 * (soclose disconnects, and the disconnect wakes the sleepers), which is
 * how destroy() stops them.
 *
 * Backpressure, both ways, is the kernel's.  Reading: the read loop stops
 * when push() says the stream's buffer is full and restarts from _read(),
 * so a consumer that stops reading leaves data in so_rcv, the receive
 * window closes and the sender blocks.  Writing: a write(2) returns only
 * once so_snd took all of it, so while the send buffer is full the chunk
 * stays in flight, later writes queue in the stream, and write() returns
 * false past writableHighWaterMark; 'drain' follows when the kernel takes
 * it.  Queued chunks go down together with sendmsg(2).
 *
 * Buffers.  Reads land in a slab (16 KiB, growing to 64 KiB while reads
 * fill it: small for request/response traffic, large for bulk), each
 * read after the previous one's bytes, and the chunk pushed is a view of
 * what that read filled: a pushed chunk is never written again (a new
 * slab is taken when the tail is short), and after the kernel's copy-out
 * nothing is copied on the way to 'data'.
 *
 * Differences from Node: errno is the kernel's (NetBSD) number; host
 * names other than localhost need a lookup option (the kernel has no
 * resolver); IPv4 and local (path) sockets only; the idle timer of
 * setTimeout() runs on the host's clock, not the kernel's.  A kernel that
 * halts under open sockets closes them without an 'error' (errors.ts,
 * kernelGone), as a Node process's sockets go when it exits.
 */

import { Duplex } from 'node:stream';
import { isIPv4, isIPv6 } from 'node:net';
import { EAFNOSUPPORT, EISCONN } from '../../include/errno.ts';
import {
  AF_INET, AF_LOCAL, SHUT_WR, SOCK_STREAM, SO_KEEPALIVE, SO_LINGER, SOL_SOCKET, type Sockaddr,
} from '../../include/socket.ts';
import { IPPROTO_TCP } from '../../net/lib/libnetinet/in.ts';
import type { NetContext } from './context.ts';
import { hasCode, kernelGone, netError, NetError, nodeError } from './errors.ts';

/*
 * netinet/tcp.h option names, the values libnetinet's tcp_var.ts and
 * libsockin use; not imported from there so that a proxy client does not
 * load the TCP stack for two numbers.
 */
const TCP_NODELAY = 1;
const TCP_KEEPIDLE = 3;

/** Reads go into slabs of 16 KiB, growing to 64 KiB while reads fill all the room they get. */
const SLAB_MIN = 16 * 1024;
const SLAB_MAX = 64 * 1024;
/** A slab tail shorter than this is left unused: a read deserves room. */
const SLAB_MIN_READ = 4 * 1024;

export type LookupFunction = (
  hostname: string,
  options: { family: number; all: false },
  callback: (err: Error | null, address: string, family: number) => void,
) => void;

export interface SocketOptions {
  /** Keep the writable side open after the peer's FIN (default false: end() when the readable side ends). */
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** ms before the first keepalive probe (TCP_KEEPIDLE, where the stack has it). */
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface TcpConnectOptions extends SocketOptions {
  port: number | string;
  host?: string;
  localAddress?: string;
  localPort?: number;
  family?: number;
  lookup?: LookupFunction;
  /** setTimeout(timeout) once created. */
  timeout?: number;
}

export interface IpcConnectOptions extends SocketOptions {
  /** A PF_LOCAL name (liblocal keeps names in the kernel, not in a file system). */
  path: string;
  timeout?: number;
}

export type NetConnectOptions = TcpConnectOptions | IpcConnectOptions;

export interface AddressInfo {
  address: string;
  family: string;
  port: number;
}

type WriteCallback = (error?: Error | null) => void;

/** Node's port check: an integer 0..65535, or a string of one. */
export function validatePort(port: unknown, what = 'Port'): number {
  const n = typeof port === 'string' && port.trim() !== '' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw nodeError(RangeError, 'ERR_SOCKET_BAD_PORT', `${what} should be >= 0 and < 65536. Received ${String(port)}.`);
  }
  return n;
}

/** The connect(...) argument forms of Node: (options[, cb]), (path[, cb]), (port[, host][, cb]). */
export function normalizeConnectArgs(args: readonly unknown[]): { options: NetConnectOptions; cb: (() => void) | undefined } {
  const last = args[args.length - 1];
  const cb = typeof last === 'function' ? (last as () => void) : undefined;
  const a0 = args[0];
  if (a0 !== null && typeof a0 === 'object') return { options: a0 as NetConnectOptions, cb };
  if (typeof a0 === 'string' && a0 !== '' && Number.isNaN(Number(a0))) return { options: { path: a0 }, cb };
  const host = typeof args[1] === 'string' ? args[1] : undefined;
  return { options: host === undefined ? { port: a0 as number } : { port: a0 as number, host }, cb };
}

function sin(addr: string, port: number): Sockaddr {
  return { sin_family: AF_INET, sin_port: port, sin_addr: addr };
}

export class NetSocket extends Duplex {
  /** The kernel descriptor; -1 before connect and after close. */
  fd = -1;
  connecting = false;
  bytesRead = 0;
  /** The server that accepted this socket (node:http sets its own here). */
  server: object | null = null;
  /** The idle timeout set by setTimeout(), or undefined. */
  timeout: number | undefined = undefined;

  private bytesSent = 0;
  private reading = false;
  private readKick = false;
  private slab: Buffer | null = null;
  private slabOff = 0;
  private slabSize = SLAB_MIN;
  private pendingWrite: { one: Uint8Array | null; iov: Uint8Array[] | null; cb: WriteCallback } | null = null;
  private pendingFinal: WriteCallback | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private refd = true;
  private holding = false;
  private noDelay = false;
  private keepAlive = false;
  private keepAliveDelay = 0;
  private laddr: string | undefined = undefined;
  private lport: number | undefined = undefined;
  private raddr: string | undefined = undefined;
  private rport: number | undefined = undefined;
  private path: string | undefined = undefined;

  constructor(protected readonly ctx: NetContext, opts: SocketOptions = {}) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      emitClose: false,
      autoDestroy: true,
      ...(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {}),
      ...(opts.readableHighWaterMark !== undefined ? { readableHighWaterMark: opts.readableHighWaterMark } : {}),
      ...(opts.writableHighWaterMark !== undefined ? { writableHighWaterMark: opts.writableHighWaterMark } : {}),
    });
    if (opts.noDelay === true) this.noDelay = true;
    if (opts.keepAlive === true) {
      this.keepAlive = true;
      this.keepAliveDelay = Math.max(0, Math.floor(opts.keepAliveInitialDelay ?? 0));
    }
  }

  /* ---- addresses ---- */

  get remoteAddress(): string | undefined {
    return this.raddr;
  }

  get remotePort(): number | undefined {
    return this.rport;
  }

  get remoteFamily(): string | undefined {
    return this.raddr === undefined ? undefined : 'IPv4';
  }

  get localAddress(): string | undefined {
    return this.laddr;
  }

  get localPort(): number | undefined {
    return this.lport;
  }

  get localFamily(): string | undefined {
    return this.laddr === undefined ? undefined : 'IPv4';
  }

  /** { address, family, port } of the local end; {} before connect. */
  address(): AddressInfo | Record<string, never> | string {
    if (this.path !== undefined) return this.path;
    if (this.laddr === undefined || this.lport === undefined) return {};
    return { address: this.laddr, family: 'IPv4', port: this.lport };
  }

  get bytesWritten(): number {
    return this.bytesSent + this.writableLength;
  }

  /** No descriptor yet, or still connecting. */
  get pending(): boolean {
    return this.fd < 0 || this.connecting;
  }

  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /** Bytes waiting to be written (Node's deprecated bufferSize). */
  get bufferSize(): number {
    return this.writableLength;
  }

  /* ---- connecting ---- */

  connect(options: NetConnectOptions, cb?: () => void): this;
  connect(port: number | string, host?: string, cb?: () => void): this;
  connect(port: number | string, cb?: () => void): this;
  connect(path: string, cb?: () => void): this;
  connect(...args: unknown[]): this {
    const { options, cb } = normalizeConnectArgs(args);
    if (this.destroyed) throw nodeError(Error, 'ERR_STREAM_DESTROYED', 'Cannot call connect after a stream was destroyed');
    if (this.fd >= 0 || this.connecting) throw new NetError('connect EISCONN', 'EISCONN', EISCONN, 'connect');
    /* As Node, a path makes a local connection only if it is a non-empty string (http passes path: null). */
    const path = (options as { path?: unknown }).path;
    let to: Sockaddr | null = null;
    let local: Sockaddr | null = null;
    let host = '';
    let port = 0;
    let lookup: LookupFunction | null = null;
    if (typeof path === 'string' && path !== '') {
      to = { sun_family: AF_LOCAL, sun_path: path };
    } else {
      const o = options as TcpConnectOptions;
      if (o.port === undefined) throw nodeError(TypeError, 'ERR_MISSING_ARGS', 'The "options" or "port" or "path" argument must be specified');
      port = validatePort(o.port);
      const localPort = o.localPort === undefined ? null : validatePort(o.localPort, 'localPort');
      if (o.localAddress !== undefined || localPort !== null) local = sin(o.localAddress ?? '0.0.0.0', localPort ?? 0);
      host = o.host === undefined || o.host === '' || o.host === 'localhost' ? '127.0.0.1' : o.host;
      if (isIPv4(host)) to = sin(host, port);
      lookup = o.lookup ?? null;
    }
    if (options.timeout !== undefined) this.setTimeout(options.timeout);
    if (cb !== undefined) this.once('connect', cb);
    this.connecting = true;
    this.updateHold();
    if (to !== null && 'sun_path' in to) this.path = to.sun_path;
    if (to !== null) void this.doConnect(to, local);
    else void this.lookupAndConnect(host, port, local, lookup);
    return this;
  }

  private lookupAndConnect(host: string, port: number, local: Sockaddr | null, lookup: LookupFunction | null): Promise<void> {
    if (isIPv6(host)) {
      return this.failConnect(new NetError(`connect EAFNOSUPPORT ${host}:${port}`, 'EAFNOSUPPORT', EAFNOSUPPORT, 'connect', host, port));
    }
    if (lookup === null) {
      const e = new NetError(`getaddrinfo ENOTFOUND ${host}`, 'ENOTFOUND', 0, 'getaddrinfo');
      (e as NetError & { hostname: string }).hostname = host;
      return this.failConnect(e);
    }
    /* On a later tick, as a resolver answers: listeners added after connect() see 'lookup'. */
    return new Promise<void>((resolve) => { process.nextTick(resolve); }).then(() => new Promise<void>((resolve) => {
      lookup(host, { family: 4, all: false }, (err, address, family) => {
        this.emit('lookup', err, address, family, host);
        if (err !== null) resolve(this.failConnect(err));
        else if (family !== 4 || !isIPv4(address)) {
          resolve(this.failConnect(new NetError(`connect EAFNOSUPPORT ${address}:${port}`, 'EAFNOSUPPORT', EAFNOSUPPORT, 'connect', address, port)));
        } else resolve(this.doConnect(sin(address, port), local));
      });
    }));
  }

  private failConnect(e: Error): Promise<void> {
    /* As Node: the error comes after connect() has returned. */
    return Promise.resolve().then(() => {
      this.connecting = false;
      this.destroy(e);
    });
  }

  private async doConnect(to: Sockaddr, local: Sockaddr | null): Promise<void> {
    const sys = this.ctx.sys;
    const [where, port] = 'sin_addr' in to ? [to.sin_addr, to.sin_port] : [to.sun_path, undefined];
    let step = 'socket';
    try {
      const fd = await sys.socket('sin_addr' in to ? AF_INET : AF_LOCAL, SOCK_STREAM);
      if (this.destroyed) {
        await sys.close(fd);
        return;
      }
      this.fd = fd;
      if ('sin_addr' in to) await this.applyOptions(fd);
      if (local !== null) {
        step = 'bind';
        await sys.bind(fd, local);
      }
      step = 'connect';
      await sys.connect(fd, to);
      if (this.destroyed || this.fd !== fd) return;
      if ('sin_addr' in to) {
        this.raddr = to.sin_addr;
        this.rport = to.sin_port;
        this.setLocal(await sys.getsockname(fd));
        if (this.destroyed) return;
      }
    } catch (e) {
      if (!this.destroyed) {
        this.connecting = false;
        this.destroy(kernelGone(e) ? undefined : netError(e, step, where, port));
      }
      return;
    }
    this.connecting = false;
    this.touch();
    this.emit('connect');
    this.emit('ready');
    this.startIo();
  }

  /** Adopt a connected descriptor (accept); the caller emits it. */
  attach(fd: number, local: Sockaddr | null, peer: Sockaddr | null): void {
    this.fd = fd;
    this.setLocal(local);
    if (peer !== null && 'sin_addr' in peer) {
      this.raddr = peer.sin_addr;
      this.rport = peer.sin_port;
    } else if (local !== null && 'sun_path' in local) {
      this.path = local.sun_path;
    }
    this.updateHold();
    if (this.noDelay || this.keepAlive) void this.applyOptions(fd);
  }

  private setLocal(sa: Sockaddr | null): void {
    if (sa !== null && 'sin_addr' in sa) {
      this.laddr = sa.sin_addr;
      this.lport = sa.sin_port;
    }
  }

  /** After connect: writes and a shutdown that waited go down, reading starts unless paused. */
  private startIo(): void {
    const w = this.pendingWrite;
    this.pendingWrite = null;
    if (w !== null) void this.send(w.one, w.iov, w.cb);
    const f = this.pendingFinal;
    this.pendingFinal = null;
    if (f !== null) this._final(f);
    if (this.readKick) void this.readLoop();
    else if (!this.isPaused()) this.read(0);
  }

  /* ---- options ---- */

  private async applyOptions(fd: number): Promise<void> {
    const sys = this.ctx.sys;
    try {
      if (this.noDelay) await sys.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
      if (this.keepAlive) await this.setKeepAliveOn(fd, true, this.keepAliveDelay);
    } catch {
      /* As Node: options on a socket that is going away fail silently. */
    }
  }

  private async setKeepAliveOn(fd: number, enable: boolean, delayMs: number): Promise<void> {
    const sys = this.ctx.sys;
    await sys.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, enable ? 1 : 0);
    if (!enable || delayMs <= 0) return;
    try {
      await sys.setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, Math.max(1, Math.floor(delayMs / 1000)));
    } catch (e) {
      /* libsockin passes only TCP_NODELAY to the host: the idle time stays the stack's. */
      if (!hasCode(e, 'ENOPROTOOPT')) throw e;
    }
  }

  /** TCP_NODELAY: segments leave without waiting for Nagle's algorithm. */
  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    if (this.fd >= 0 && !this.path) void this.ctx.sys.setsockopt(this.fd, IPPROTO_TCP, TCP_NODELAY, noDelay ? 1 : 0).catch(ignore);
    return this;
  }

  /** SO_KEEPALIVE, and TCP_KEEPIDLE from initialDelay (ms) where the stack has it. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAlive = enable;
    this.keepAliveDelay = Math.max(0, Math.floor(initialDelay));
    if (this.fd >= 0 && !this.path) void this.setKeepAliveOn(this.fd, enable, this.keepAliveDelay).catch(ignore);
    return this;
  }

  /* ---- the idle timer ---- */

  private readonly onTimeout = (): void => {
    this.emit('timeout');
  };

  /** Emit 'timeout' after ms without reads or writes (0 disables); cb is a one-time 'timeout' listener. */
  setTimeout(ms: number, cb?: () => void): this {
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
      throw nodeError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "msecs" is out of range. It must be a non-negative finite number. Received ${String(ms)}`);
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (ms === 0) {
      this.timeout = undefined;
      if (cb !== undefined) this.removeListener('timeout', cb);
      return this;
    }
    this.timeout = ms;
    if (cb !== undefined) this.once('timeout', cb);
    if (!this.destroyed) {
      this.timer = setTimeout(this.onTimeout, ms);
      this.timer.unref();
    }
    return this;
  }

  /** Activity: restart the idle timer. */
  private touch(): void {
    if (this.timer !== null) this.timer.refresh();
  }

  /* ---- keeping the process alive ---- */

  private updateHold(): void {
    const want = this.refd && (this.fd >= 0 || this.connecting) && !this.destroyed;
    if (want === this.holding) return;
    this.holding = want;
    this.ctx.hold(want ? 1 : -1);
  }

  /** Keep the process alive while this socket is open (the default). */
  ref(): this {
    this.refd = true;
    this.updateHold();
    return this;
  }

  /** Let the process exit even if this socket is open. */
  unref(): this {
    this.refd = false;
    this.updateHold();
    return this;
  }

  /* ---- reading ---- */

  override _read(_size: number): void {
    this.readKick = true;
    if (!this.reading && this.fd >= 0 && !this.connecting) void this.readLoop();
  }

  private async readLoop(): Promise<void> {
    this.reading = true;
    const sys = this.ctx.sys;
    const fd = this.fd;
    try {
      while (!this.destroyed) {
        let slab = this.slab;
        if (slab === null || slab.length - this.slabOff < SLAB_MIN_READ) {
          slab = this.slab = Buffer.allocUnsafeSlow(this.slabSize);
          this.slabOff = 0;
        }
        const off = this.slabOff;
        const n = await sys.read(fd, slab.subarray(off));
        if (off + n === slab.length && this.slabSize < SLAB_MAX) this.slabSize *= 2;
        if (this.destroyed) return;
        if (n === 0) {
          this.push(null);
          return;
        }
        this.slabOff = off + n;
        this.bytesRead += n;
        this.touch();
        this.readKick = false;
        /* push() may call _read() synchronously (a consumer reading in 'data'): then go on. */
        if (!this.push(slab.subarray(off, off + n)) && !this.readKick) return;
      }
    } catch (e) {
      if (!this.destroyed) this.destroy(kernelGone(e) ? undefined : netError(e, 'read'));
    } finally {
      this.reading = false;
    }
  }

  /* ---- writing ---- */

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: WriteCallback): void {
    this.send(chunk, null, cb);
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], cb: WriteCallback): void {
    const iov: Uint8Array[] = new Array<Uint8Array>(chunks.length);
    for (let i = 0; i < chunks.length; i++) iov[i] = chunks[i]!.chunk;
    this.send(null, iov, cb);
  }

  private send(one: Uint8Array | null, iov: Uint8Array[] | null, cb: WriteCallback): void {
    if (this.connecting || this.fd < 0) {
      /* As Node: written before the connection is up, sent once it is. */
      this.pendingWrite = { one, iov, cb };
      return;
    }
    void this.doSend(one, iov, cb);
  }

  private async doSend(one: Uint8Array | null, iov: Uint8Array[] | null, cb: WriteCallback): Promise<void> {
    const sys = this.ctx.sys;
    const fd = this.fd;
    try {
      if (one !== null) {
        for (let off = 0; off < one.length;) off += await sys.write(fd, off === 0 ? one : one.subarray(off));
        this.bytesSent += one.length;
      } else {
        let total = 0;
        for (const v of iov!) total += v.length;
        /* sosend takes a stream's data whole unless interrupted; a short count resends the rest. */
        const n = await sys.sendmsg(fd, iov!);
        if (n < total) await this.sendRest(fd, iov!, n);
        this.bytesSent += total;
      }
    } catch (e) {
      if (kernelGone(e)) this.destroy();
      cb(this.destroyed ? null : netError(e, 'write'));
      return;
    }
    this.touch();
    cb();
  }

  private async sendRest(fd: number, iov: Uint8Array[], sent: number): Promise<void> {
    let skip = sent;
    for (const v of iov) {
      if (skip >= v.length) {
        skip -= v.length;
        continue;
      }
      for (let off = skip; off < v.length;) off += await this.ctx.sys.write(fd, v.subarray(off));
      skip = 0;
    }
  }

  override _final(cb: WriteCallback): void {
    if (this.connecting || (this.fd < 0 && !this.destroyed)) {
      this.pendingFinal = cb;
      return;
    }
    if (this.fd < 0) {
      cb();
      return;
    }
    this.ctx.sys.shutdown(this.fd, SHUT_WR).then(() => { cb(); }, (e: unknown) => {
      /* The peer reset the connection first: there is nothing left to shut. */
      cb(hasCode(e, 'ENOTCONN') ? null : netError(e, 'shutdown'));
    });
  }

  /** end(), then destroy() once everything is written (node:http's way of closing). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', this.destroy);
  }

  /** Close with a reset (SO_LINGER 0) rather than a FIN. */
  resetAndDestroy(): this {
    const fd = this.fd;
    if (fd < 0 || this.connecting) return this.destroy();
    this.ctx.sys.setsockopt(fd, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 0 })
      .then(() => { this.destroy(); }, (e: unknown) => { this.destroy(netError(e, 'setsockopt')); });
    return this;
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.connecting = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pendingWrite = null;
    this.pendingFinal = null;
    const fd = this.fd;
    this.fd = -1;
    this.updateHold();
    const hadError = err !== null;
    /*
     * 'close' once the kernel has the descriptor back, as Node emits it after
     * the handle closes, and on a later tick than the 'error' that destroy
     * queues now.
     */
    if (fd >= 0) {
      const after = (): void => { process.nextTick(emitCloseNT, this, hadError); };
      this.ctx.sys.close(fd).then(after, after);
    } else {
      process.nextTick(emitCloseNT, this, hadError);
    }
    cb(err);
  }
}

function ignore(): void {}

function emitCloseNT(s: NetSocket, hadError: boolean): void {
  s.emit('close', hadError);
}
