/*
 * sockin's host half (NetBSD's host side of sockin, the socket calls in
 * rumpuser): kernel sockets backed by Node's `net` and `dgram`.  The only
 * file of libsockin that imports node: modules; the kernel half reaches it
 * through the SockinHypercalls table and hears back through SockinUpcalls.
 *
 * Node is push-based, so there is no receiver thread or poll loop as in
 * NetBSD's sockin: each host event ('data', 'message', 'connect',
 * 'connection', 'end', 'error', write completion) becomes one upcall.
 *
 * How bind is made to report EADDRINUSE although Node binds
 * asynchronously: bind() starts the host bind and returns its outcome if
 * it is already known (dgram binds synchronously when given a lookup that
 * answers at once, as here), else null; the kernel then sleeps until the
 * bound() upcall.  A stream socket cannot hold a port in Node without
 * listening, so its bind is a net.Server listen (see SockinHypercalls.bind).
 *
 * Events that Node emits synchronously inside a hypercall (dgram's
 * 'listening' or 'error' during bind) are never passed up from inside it:
 * a bind outcome is returned, anything else waits for setImmediate, so
 * that upcalls always enter the kernel from the host loop.
 */

import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { ECONNRESET, EINVAL, EIO, EPIPE, errnoByName } from '../../../include/errno.ts';
import type {
  SockinAddr, SockinHandle, SockinHypercalls, SockinOpt, SockinType, SockinUpcalls,
} from './sockin_hyper.ts';

/** Host socket buffer size for datagram sockets, as NetBSD's sockin (64 KiB). */
const SOCKIN_UDP_BUF = 64 * 1024;
/** Backlog of the host listener (the kernel applies its own so_qlimit). */
const SOCKIN_HOST_BACKLOG = 511;

/** A Node error's code as a NetBSD errno. */
function host_errno(e: unknown): number {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return EIO;
  if (code === 'ERR_STREAM_WRITE_AFTER_END' || code === 'ERR_STREAM_DESTROYED' || code === 'EPIPE') return EPIPE;
  return errnoByName(code) ?? EIO;
}

/** A lookup that answers at once: the kernel passes only dotted quads. */
function lookup_now(host: string, opts: unknown, cb?: (e: Error | null, a: string, f: number) => void): void {
  const done = typeof opts === 'function' ? (opts as typeof cb)! : cb!;
  done(null, host, 4);
}

class HostSock<C> implements SockinHandle {
  cookie: C;
  /** Stream: the connected (or accepted) socket. */
  sock: net.Socket | null = null;
  /** Stream: the listener that holds the bound port. */
  server: net.Server | null = null;
  /** Datagram: made at bind time, with the options set before. */
  udp: dgram.Socket | null = null;
  accepting = false;
  /** Events go up only once the kernel owns the socket (an accepted one waits for adopt). */
  adopted = true;
  /** A bind is under way: its outcome goes to bound(). */
  binding = false;
  /** Inside the bind hypercall: the outcome is returned, not upcalled. */
  bindsync = false;
  bindres = -1;
  /** write() reported a backlog: drain() is owed. */
  owedrain = false;
  closed = false;
  readonly opts = new Map<SockinOpt, number>();
  /* One bound function per socket, not a closure per write. */
  readonly written: () => void;

  constructor(readonly sh_id: number, readonly type: SockinType, c: C, readonly hs: SockinUser<C>) {
    this.cookie = c;
    this.written = () => { this.hs.onwritten(this); };
  }
}

function addr_of(a: string | undefined, p: number | undefined): SockinAddr {
  /* An IPv4 peer of a dual-stack host socket shows as ::ffff:a.b.c.d. */
  const host = a === undefined ? '0.0.0.0' : a.startsWith('::ffff:') ? a.slice(7) : a;
  return { host, port: p ?? 0 };
}

export class SockinUser<C> implements SockinHypercalls<C> {
  private nextid = 1;
  private readonly socks = new Set<HostSock<C>>();
  /** Hypercall nesting: upcalls wait while it is not 0. */
  private depth = 0;
  private readonly deferred: (() => void)[] = [];
  private immediate: NodeJS.Immediate | null = null;
  private dead = false;

  constructor(private readonly up: SockinUpcalls<C>) {}

  private hs(h: SockinHandle): HostSock<C> {
    return h as HostSock<C>;
  }

  /** Pass an event up now, or after the hypercall we are inside (from the host loop). */
  private deliver(fn: () => void): void {
    if (this.dead) return;
    if (this.depth === 0) {
      fn();
      return;
    }
    this.deferred.push(fn);
    if (this.immediate === null) {
      this.immediate = setImmediate(() => {
        this.immediate = null;
        for (const f of this.deferred.splice(0)) if (!this.dead) f();
      });
    }
  }

  private enter(): void {
    this.depth++;
  }

  private leave(): void {
    this.depth--;
  }

  create(type: SockinType, c: C): SockinHandle {
    const h = new HostSock<C>(this.nextid++, type, c, this);
    this.socks.add(h);
    return h;
  }

  adopt(h0: SockinHandle, c: C): void {
    const h = this.hs(h0);
    h.cookie = c;
    h.adopted = true;
    const s = h.sock;
    if (s === null || h.closed) return;
    if (s.destroyed) {
      /* Reset while it waited for accept: the kernel hears it from the host loop. */
      this.enter();
      try {
        this.deliver(() => { this.up.error(h.cookie, ECONNRESET); });
      } finally {
        this.leave();
      }
      return;
    }
    this.applyopts(h);
    s.resume();
  }

  /* ----------------------------------------------------------- bind */

  bind(h0: SockinHandle, local: SockinAddr): number | null {
    const h = this.hs(h0);
    if (h.closed || h.binding || h.server !== null || h.udp !== null) return EINVAL;
    this.enter();
    try {
      h.binding = true;
      h.bindsync = true;
      h.bindres = -1;
      if (h.type === 'udp') this.udpbind(h, local);
      else this.tcpbind(h, local);
      h.bindsync = false;
      if (h.bindres < 0) return null;
      h.binding = false;
      return h.bindres;
    } finally {
      this.leave();
    }
  }

  private bindoutcome(h: HostSock<C>, error: number): void {
    if (!h.binding) return;
    if (h.bindsync) {
      h.bindres = error;
      return;
    }
    h.binding = false;
    const local = error === 0 ? this.localaddr(h) : null;
    this.deliver(() => { this.up.bound(h.cookie, error, local); });
  }

  private udpbind(h: HostSock<C>, local: SockinAddr): void {
    const u = dgram.createSocket({
      type: 'udp4', reuseAddr: (h.opts.get('reuseaddr') ?? 0) !== 0, lookup: lookup_now as never,
    });
    h.udp = u;
    u.on('listening', () => {
      try {
        u.setRecvBufferSize(h.opts.get('rcvbuf') ?? SOCKIN_UDP_BUF);
        u.setSendBufferSize(h.opts.get('sndbuf') ?? SOCKIN_UDP_BUF);
        const ttl = h.opts.get('ttl');
        if (ttl !== undefined) u.setTTL(ttl);
      } catch {
        /* Buffer sizes are advice; the host may clamp or refuse them. */
      }
      this.bindoutcome(h, 0);
    });
    u.on('error', (e) => {
      if (h.binding) {
        /* A failed bind leaves nothing to keep. */
        h.udp = null;
        u.close();
        this.bindoutcome(h, host_errno(e));
        return;
      }
      const errno = host_errno(e);
      this.deliver(() => { this.up.error(h.cookie, errno); });
    });
    u.on('message', (msg, rinfo) => {
      if (h.closed) return;
      /* A Buffer is a Uint8Array over the same bytes: no copy. */
      const data: Uint8Array = msg;
      this.up.data(h.cookie, data, { host: rinfo.address, port: rinfo.port });
    });
    u.bind({ port: local.port, address: local.host, exclusive: true });
  }

  private tcpbind(h: HostSock<C>, local: SockinAddr): void {
    const srv = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    h.server = srv;
    srv.on('listening', () => { this.bindoutcome(h, 0); });
    srv.on('error', (e) => {
      h.server = null;
      srv.close();
      this.bindoutcome(h, host_errno(e));
    });
    srv.on('connection', (s) => { this.onconnection(h, s); });
    srv.listen({ host: local.host, port: local.port, backlog: SOCKIN_HOST_BACKLOG, exclusive: true });
  }

  localaddr(h0: SockinHandle): SockinAddr | null {
    const h = this.hs(h0);
    try {
      if (h.udp !== null) {
        const a = h.udp.address();
        return { host: a.address, port: a.port };
      }
      if (h.server !== null) {
        const a = h.server.address();
        if (a === null || typeof a === 'string') return null;
        return { host: a.address, port: a.port };
      }
      if (h.sock !== null && h.sock.localPort !== undefined) return addr_of(h.sock.localAddress, h.sock.localPort);
    } catch {
      /* Not bound yet. */
    }
    return null;
  }

  /* --------------------------------------------------------- streams */

  listen(h0: SockinHandle): void {
    this.hs(h0).accepting = true;
  }

  private onconnection(h: HostSock<C>, s: net.Socket): void {
    if (!h.accepting || h.closed || this.dead) {
      /* Bound but not listening: the connection is refused (RST). */
      s.resetAndDestroy();
      return;
    }
    const child = new HostSock<C>(this.nextid++, 'tcp', h.cookie, this);
    child.adopted = false;
    this.socks.add(child);
    this.attach(child, s);
    this.up.accepted(h.cookie, child, addr_of(s.localAddress, s.localPort), addr_of(s.remoteAddress, s.remotePort));
  }

  /** The events of a connected stream socket. */
  private attach(h: HostSock<C>, s: net.Socket): void {
    h.sock = s;
    /* A Buffer is a Uint8Array over the same bytes: passed up without a copy. */
    s.on('data', (b: Buffer) => {
      if (!h.closed && h.adopted) this.up.data(h.cookie, b, null);
    });
    s.on('end', () => {
      if (!h.closed && h.adopted) this.up.eof(h.cookie);
    });
    s.on('error', (e) => {
      if (!h.closed && h.adopted) this.up.error(h.cookie, host_errno(e));
    });
    s.on('close', () => {
      if (h.closed) this.socks.delete(h);
    });
  }

  connect(h0: SockinHandle, peer: SockinAddr, local: SockinAddr | null): void {
    const h = this.hs(h0);
    if (h.closed) return;
    /* The listener only held the port: give it up and connect from it. */
    if (h.server !== null) {
      h.server.close();
      h.server = null;
    }
    const opts: net.TcpNetConnectOpts = { host: peer.host, port: peer.port, allowHalfOpen: true, lookup: lookup_now as never };
    if (local !== null) {
      opts.localAddress = local.host;
      if (local.port !== 0) opts.localPort = local.port;
    }
    const s = net.connect(opts);
    this.attach(h, s);
    s.once('connect', () => {
      if (h.closed) return;
      this.applyopts(h);
      this.up.connected(h.cookie, addr_of(s.localAddress, s.localPort), addr_of(s.remoteAddress, s.remotePort));
    });
  }

  write(h0: SockinHandle, data: Uint8Array): number {
    const h = this.hs(h0);
    const s = h.sock;
    if (s === null || h.closed || s.destroyed) return 0;
    s.write(data, h.written);
    const pending = s.writableLength;
    if (pending > 0) h.owedrain = true;
    return pending;
  }

  /** A write completed: once nothing is held any more, the kernel may send again. */
  onwritten(h: HostSock<C>): void {
    const s = h.sock;
    if (!h.owedrain || h.closed || s === null || s.writableLength > 0) return;
    h.owedrain = false;
    this.deliver(() => { this.up.drain(h.cookie); });
  }

  shutdown(h0: SockinHandle): void {
    const h = this.hs(h0);
    if (h.sock !== null && !h.closed) h.sock.end();
  }

  pause(h0: SockinHandle): void {
    this.hs(h0).sock?.pause();
  }

  resume(h0: SockinHandle): void {
    const h = this.hs(h0);
    if (!h.closed) h.sock?.resume();
  }

  /* -------------------------------------------------------- datagrams */

  sendto(h0: SockinHandle, data: Uint8Array, to: SockinAddr): number {
    const h = this.hs(h0);
    const u = h.udp;
    if (u === null || h.closed) return EINVAL;
    this.enter();
    try {
      /* Errors of the send itself come to 'error' (an upcall), as ICMP errors do in the kernel. */
      u.send(data, to.port, to.host);
      return 0;
    } catch (e) {
      return host_errno(e);
    } finally {
      this.leave();
    }
  }

  /* ---------------------------------------------------------- options */

  setopt(h0: SockinHandle, opt: SockinOpt, value: number): number {
    const h = this.hs(h0);
    h.opts.set(opt, value);
    /* Applied now if the host socket exists, else when it is made or connects. */
    try {
      this.applyopts(h, opt);
    } catch (e) {
      return host_errno(e);
    }
    return 0;
  }

  private applyopts(h: HostSock<C>, only?: SockinOpt): void {
    for (const [opt, v] of h.opts) {
      if (only !== undefined && opt !== only) continue;
      if (h.sock !== null) {
        if (opt === 'nodelay') h.sock.setNoDelay(v !== 0);
        else if (opt === 'keepalive') h.sock.setKeepAlive(v !== 0);
      } else if (h.udp !== null) {
        if (opt === 'rcvbuf') h.udp.setRecvBufferSize(v);
        else if (opt === 'sndbuf') h.udp.setSendBufferSize(v);
        else if (opt === 'ttl') h.udp.setTTL(v);
      }
    }
  }

  /* ------------------------------------------------------------ close */

  close(h0: SockinHandle, abort: boolean): void {
    const h = this.hs(h0);
    if (h.closed) return;
    h.closed = true;
    h.binding = false;
    if (h.server !== null) {
      h.server.close();
      h.server = null;
    }
    if (h.udp !== null) {
      h.udp.close();
      h.udp = null;
    }
    const s = h.sock;
    if (s === null || s.destroyed) {
      this.socks.delete(h);
      return;
    }
    if (abort) {
      s.resetAndDestroy();
      return;
    }
    /*
     * As a kernel does after close(2): what the host still holds is sent,
     * then FIN; anything the peer sends meanwhile is discarded.  The
     * socket goes when both directions are done (or at fini()).
     */
    s.resume();
    s.end();
  }

  fini(): void {
    if (this.dead) return;
    this.dead = true;
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.immediate = null;
    this.deferred.length = 0;
    for (const h of this.socks) {
      h.closed = true;
      h.server?.close();
      h.udp?.close();
      h.sock?.destroy();
    }
    this.socks.clear();
  }
}

/** The host half for one kernel. */
export function sockin_user_create<C>(up: SockinUpcalls<C>): SockinHypercalls<C> {
  return new SockinUser<C>(up);
}
