/*
 * The syscall proxy's host half (NetBSD's rumpuser_sp.c): the only proxy
 * code that touches host sockets.  The server listens on a RUMP_SERVER
 * URL, greets each connection with HELLO, checks its HANDSHAKE, asks the
 * kernel (SpHyperup, librump/rumpkern/rump_sp.ts) for a process, and
 * passes each CALL up; calls run concurrently (tagged), so one client's
 * blocking call never holds up its other calls or other clients.  When a
 * connection ends, the kernel ends its process.  sp_dial is the client's
 * half of the transport (lib/librumpclient).  sysproxy.md has the wire.
 *
 * URLs, as NetBSD's: unix://relative/path, unix:///absolute/path and
 * tcp://127.0.0.1:port (loopback only: every client is root).
 */

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { dirname, resolve as path_resolve } from 'node:path';
import {
  EACCES, EADDRINUSE, EADDRNOTAVAIL, EAGAIN, EEXIST, EINVAL, EIO, EMSGSIZE, ENOENT, ENOTDIR, EPERM, EPROGMISMATCH,
  errnoByName, errnoName, strerror, SyscallError,
} from '../../include/errno.ts';
import {
  SP_CALL, SP_ERROR, SP_HANDSHAKE, SP_HELLO, SP_MAXFRAME, SP_MAXINFLIGHT, SP_REPLY, SP_VERSION, SP_WELCOME,
  SpFormatError, SpFramer, SpReader, SpWriter, sp_frame, sp_read_preamble, sp_write_preamble,
  type SpHyperup, type SpStreamError, type SpValue,
} from './sp_common.ts';

/** Longest unix socket path (sun_path less its terminating NUL on Linux). */
const SP_UNIX_PATHMAX = 107;

export type SpUrl =
  | { readonly kind: 'unix'; readonly url: string; readonly path: string }
  | { readonly kind: 'tcp'; readonly url: string; readonly host: string; readonly port: number };

/** A RUMP_SERVER URL that cannot be used, or a server that cannot listen on it. */
export class SpUrlError extends Error {
  constructor(message: string, readonly errno = EINVAL) {
    super(message);
    this.name = 'SpUrlError';
  }
}

/** Parse a RUMP_SERVER URL; unix paths are resolved against the current directory. */
export function sp_parseurl(url: string): SpUrl {
  const m = /^([a-z0-9]+):\/\/(.*)$/.exec(url);
  if (m === null) throw new SpUrlError(`${url}: not a URL (want unix://path or tcp://127.0.0.1:port)`);
  const [, scheme, rest] = m as unknown as [string, string, string];
  if (scheme === 'unix') {
    if (rest === '') throw new SpUrlError(`${url}: no socket path`);
    const path = path_resolve(rest);
    const bytes = Buffer.byteLength(path);
    if (bytes > SP_UNIX_PATHMAX) {
      throw new SpUrlError(`${url}: socket path ${path} is ${bytes} bytes, longer than the ${SP_UNIX_PATHMAX} a unix socket allows`, EINVAL);
    }
    return { kind: 'unix', url, path };
  }
  if (scheme === 'tcp') {
    const t = /^([^:/]+):([0-9]{1,5})\/?$/.exec(rest);
    if (t === null) throw new SpUrlError(`${url}: want tcp://a.b.c.d:port`);
    const host = t[1]!;
    const port = Number(t[2]);
    const q = host.split('.');
    if (q.length !== 4 || !q.every((x) => /^[0-9]{1,3}$/.test(x) && Number(x) <= 255)) {
      throw new SpUrlError(`${url}: ${host} is not an IPv4 address (a.b.c.d)`);
    }
    if (q[0] !== '127') {
      throw new SpUrlError(`${url}: ${host} is not a loopback address; every proxy client is root, so rumpts serves only 127.0.0.0/8`, EPERM);
    }
    if (port > 65535) throw new SpUrlError(`${url}: port ${port} out of range`);
    return { kind: 'tcp', url, host, port };
  }
  if (scheme === 'tcp6') throw new SpUrlError(`${url}: tcp6 is not supported (nor is it by NetBSD)`);
  throw new SpUrlError(`${url}: unknown scheme ${scheme}:// (want unix:// or tcp://)`);
}

function host_errno(e: unknown): number {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return (code !== undefined ? errnoByName(code) : undefined) ?? EIO;
}

function send(sock: Socket, segs: readonly Uint8Array[]): void {
  if (sock.destroyed || !sock.writable) return;
  if (segs.length === 1) {
    sock.write(segs[0]!);
    return;
  }
  sock.cork();
  for (const s of segs) sock.write(s);
  sock.uncork();
}

/** [errno, syscall, detail] for an ERROR frame. */
function error_body(e: unknown, fallback: string): [number, string, string | null] {
  if (e instanceof SyscallError) {
    const base = `${errnoName(e.errno)}: ${strerror(e.errno)}, ${e.syscall}`;
    const rest = e.message.slice(base.length);
    const detail = e.message.startsWith(base) && rest.startsWith(' (') && rest.endsWith(')') ? rest.slice(2, -1) : null;
    return [e.errno, e.syscall, detail];
  }
  if (e instanceof SpFormatError) return [EIO, fallback, `reply cannot be carried: ${e.message}`];
  return [EIO, fallback, e instanceof Error ? `${e.name}: ${e.message}` : String(e)];
}

export interface SpServerOptions {
  /** Diagnostics (a client sent garbage, a process did not exit cleanly). */
  log?: (s: string) => void;
  /** How long close() lets calls in progress finish before cutting connections, ms. */
  graceMs?: number;
}

/** One client connection and its process. */
class SpConn<P> {
  proc: P | null = null;
  inflight = 0;
  draining = false;
  private readonly framer: SpFramer;

  constructor(private readonly srv: SpServer<P>, readonly sock: Socket) {
    this.framer = new SpFramer((type, tag, body) => { this.frame(type, tag, body); }, (e) => { this.bad(e); });
    sock.on('data', (chunk: Buffer) => { this.framer.push(chunk); });
    sock.on('error', () => { /* the 'close' that follows cleans up */ });
    sock.on('close', () => { this.gone(); });
    const w = new SpWriter();
    sp_write_preamble(w);
    w.value({ banner: srv.hyp.sp_banner, maxframe: SP_MAXFRAME });
    send(sock, w.finish(SP_HELLO, 0));
  }

  private error(tag: number, errno: number, syscall: string, detail: string | null): void {
    send(this.sock, sp_frame(SP_ERROR, tag, [errno, syscall, detail]));
  }

  /** A refusal that ends the connection (after the ERROR frame is flushed). */
  private refuse(errno: number, syscall: string, detail: string): void {
    this.framer.stop();
    this.error(0, errno, syscall, detail);
    this.sock.end();
  }

  private bad(e: SpStreamError): void {
    this.srv.log(`client ${this.describe()}: ${e.kind === 'oversize' ? 'oversized' : 'runt'} frame (length ${e.len}); closing`);
    if (e.kind === 'oversize') this.refuse(EMSGSIZE, 'sysproxy', `a frame of ${e.len} bytes exceeds the ${SP_MAXFRAME}-byte limit`);
    else this.refuse(EINVAL, 'sysproxy', `a frame length of ${e.len} is shorter than a header`);
  }

  private describe(): string {
    return this.proc === null ? '(no handshake)' : `pid ${this.srv.hyp.hyp_getpid(this.proc)}`;
  }

  private frame(type: number, tag: number, body: Uint8Array): void {
    if (this.proc === null) {
      if (type !== SP_HANDSHAKE) {
        this.refuse(EPERM, 'sysproxy', 'the first frame must be a handshake');
        return;
      }
      this.handshake(body);
      return;
    }
    if (type !== SP_CALL) {
      this.error(tag, EINVAL, 'sysproxy', `unexpected frame type ${type}`);
      return;
    }
    if (this.draining) {
      this.error(tag, EIO, 'sysproxy', 'the server is shutting down');
      return;
    }
    let sysnum: number;
    let args: SpValue;
    try {
      const r = new SpReader(body);
      sysnum = r.u16();
      args = r.value();
      r.end();
      if (!Array.isArray(args)) throw new SpFormatError('the arguments are not an array');
    } catch (e) {
      this.error(tag, EINVAL, 'sysproxy', `malformed call: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (this.inflight >= SP_MAXINFLIGHT) {
      this.error(tag, EAGAIN, `syscall ${sysnum}`, `more than ${SP_MAXINFLIGHT} calls in progress`);
      return;
    }
    this.inflight++;
    this.srv.hyp.hyp_syscall(this.proc, sysnum, args as readonly SpValue[]).then(
      (v) => { this.reply(tag, v, sysnum); },
      (e: unknown) => {
        this.error(tag, ...error_body(e, `syscall ${sysnum}`));
        this.done();
      },
    );
  }

  private reply(tag: number, v: unknown, sysnum: number): void {
    let segs: Uint8Array[] | null = null;
    try {
      segs = sp_frame(SP_REPLY, tag, v);
    } catch (e) {
      this.error(tag, ...error_body(e, `syscall ${sysnum}`));
    }
    if (segs !== null) send(this.sock, segs);
    this.done();
  }

  /** A call has answered; a draining connection ends after its last answer. */
  private done(): void {
    this.inflight--;
    if (this.draining && this.inflight === 0) this.sock.end();
  }

  private handshake(body: Uint8Array): void {
    let comm: string;
    try {
      const r = new SpReader(body);
      const version = sp_read_preamble(r);
      if (version !== SP_VERSION) {
        this.refuse(EPROGMISMATCH, 'handshake', `protocol version mismatch: the server speaks version ${SP_VERSION}, the client ${version}`);
        return;
      }
      const v = r.value();
      r.end();
      const c = typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Record<string, SpValue>)['comm'] : undefined;
      comm = typeof c === 'string' ? c : 'rumpclient';
    } catch (e) {
      this.refuse(EINVAL, 'handshake', `malformed handshake: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    try {
      this.proc = this.srv.hyp.hyp_lwproc_rfork(comm);
    } catch (e) {
      this.refuse(EIO, 'handshake', `cannot make a process: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    send(this.sock, sp_frame(SP_WELCOME, 0, { pid: this.srv.hyp.hyp_getpid(this.proc) }));
  }

  /** End after the calls in progress have answered. */
  drain(): void {
    this.draining = true;
    if (this.inflight === 0) this.sock.end();
  }

  private gone(): void {
    this.framer.stop();
    this.srv.conns.delete(this);
    const p = this.proc;
    if (p === null) return;
    this.srv.hyp.hyp_lwpexit(p).catch((e: unknown) => {
      this.srv.log(`pid ${this.srv.hyp.hyp_getpid(p)}: exit failed: ${e instanceof Error ? e.message : String(e)}`);
    });
  }
}

/** A listening proxy server. */
export class SpServer<P = unknown> {
  readonly conns = new Set<SpConn<P>>();
  private closing: Promise<void> | null = null;
  private readonly logfn: (s: string) => void;
  private readonly graceMs: number;
  /** The inode of the socket file this server made (so close() removes only its own). */
  private ino = -1;

  constructor(readonly url: SpUrl, readonly hyp: SpHyperup<P>, private readonly srv: Server, opts: SpServerOptions) {
    this.logfn = opts.log ?? (() => {});
    this.graceMs = opts.graceMs ?? 2000;
    srv.on('connection', (sock: Socket) => {
      if (this.closing !== null) {
        sock.destroy();
        return;
      }
      if (url.kind === 'tcp') sock.setNoDelay(true);
      this.conns.add(new SpConn(this, sock));
    });
    if (url.kind === 'unix') this.ino = lstatSync(url.path).ino;
  }

  log(s: string): void {
    this.logfn(s);
  }

  /** The TCP port listened on (for tcp://...:0). */
  get port(): number {
    const a = this.srv.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /**
   * Stop serving: no new connections, the socket file removed, each
   * connection ended once its calls in progress have answered (cut after
   * graceMs).  Resolves when every connection is closed.
   */
  close(): Promise<void> {
    if (this.closing === null) {
      this.closing = new Promise<void>((resolve) => {
        this.srv.close(() => { resolve(); });
        this.unlink();
        for (const c of this.conns) c.drain();
        if (this.conns.size > 0) {
          setTimeout(() => { for (const c of this.conns) c.sock.destroy(); }, this.graceMs).unref();
        }
      });
    }
    return this.closing;
  }

  private unlink(): void {
    if (this.url.kind !== 'unix' || this.ino < 0) return;
    try {
      if (lstatSync(this.url.path).ino === this.ino) unlinkSync(this.url.path);
    } catch {
      /* already gone */
    }
  }
}

/** Is something answering on this unix socket path? */
function unix_alive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ path });
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => { resolve(false); });
  });
}

/**
 * A unix socket path may be used if nothing is there or a dead server's
 * socket is (removed here); a live server's socket or any other file is
 * refused.
 */
async function unix_prepare(u: SpUrl & { kind: 'unix' }): Promise<void> {
  /* Checked here because bind(2) failing in a missing directory reaches us as EACCES. */
  const dir = dirname(u.path);
  let dst;
  try {
    dst = statSync(dir);
  } catch {
    throw new SpUrlError(`${u.url}: directory ${dir} does not exist`, ENOENT);
  }
  if (!dst.isDirectory()) throw new SpUrlError(`${u.url}: ${dir} is not a directory`, ENOTDIR);
  let st;
  try {
    st = lstatSync(u.path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new SpUrlError(`${u.url}: ${u.path} exists and is not a socket`, EEXIST);
  if (await unix_alive(u.path)) throw new SpUrlError(`${u.url}: ${u.path} is in use by another server`, EADDRINUSE);
  try {
    unlinkSync(u.path);
  } catch (e) {
    throw new SpUrlError(`${u.url}: cannot remove the stale socket ${u.path}: ${(e as Error).message}`, host_errno(e));
  }
}

function listen_error(u: SpUrl, e: unknown): SpUrlError {
  const errno = host_errno(e);
  const where = u.kind === 'unix' ? u.path : `${u.host}:${u.port}`;
  const why = errno === EADDRINUSE ? 'address already in use'
    : errno === EACCES ? 'permission denied'
    : errno === EADDRNOTAVAIL ? 'address not available on this host'
    : (e as Error).message;
  return new SpUrlError(`${u.url}: cannot listen on ${where}: ${why}`, errno);
}

/**
 * rumpuser_sp_init: listen on url and serve hyp's kernel.  A unix socket
 * is created mode 0600.  Rejects with an SpUrlError naming the problem
 * (bad URL, path in use, permission) and leaves no socket file behind.
 */
export async function rumpuser_sp_init<P>(url: string, hyp: SpHyperup<P>, opts: SpServerOptions = {}): Promise<SpServer<P>> {
  const u = sp_parseurl(url);
  if (u.kind === 'unix') await unix_prepare(u);
  const srv = createServer({ noDelay: u.kind === 'tcp' });
  srv.maxConnections = 1024;
  const listening = new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.once('listening', () => {
      srv.off('error', reject);
      resolve();
    });
  });
  if (u.kind === 'unix') {
    /* Created 0600 from the start: no window in which others may connect (but a worker thread may not set the umask; the chmod below still applies). */
    let old: number | null = null;
    try {
      old = process.umask(0o177);
    } catch {
      old = null;
    }
    try {
      srv.listen(u.path);
    } finally {
      if (old !== null) process.umask(old);
    }
  } else {
    srv.listen(u.port, u.host);
  }
  try {
    await listening;
  } catch (e) {
    srv.close();
    throw listen_error(u, e);
  }
  if (u.kind === 'unix') chmodSync(u.path, 0o600);
  srv.on('error', (e) => { opts.log?.(`server: ${e.message}`); });
  return new SpServer(u, hyp, srv, opts);
}

/** The client's transport: a connected socket to url, or a SyscallError saying why not. */
export function sp_dial(url: string): Promise<Socket> {
  let u: SpUrl;
  try {
    u = sp_parseurl(url);
  } catch (e) {
    return Promise.reject(new SyscallError((e as SpUrlError).errno, 'rumpclient_init', (e as Error).message));
  }
  return new Promise((resolve, reject) => {
    const sock = u.kind === 'unix' ? createConnection({ path: u.path }) : createConnection({ host: u.host, port: u.port, noDelay: true });
    const fail = (e: Error): void => {
      const errno = host_errno(e);
      reject(new SyscallError(errno, 'rumpclient_init', `${url}: ${strerror(errno)}`));
    };
    sock.once('error', fail);
    sock.once('connect', () => {
      /* The client library listens for errors from here on. */
      sock.off('error', fail);
      sock.on('error', () => {});
      resolve(sock);
    });
  });
}
