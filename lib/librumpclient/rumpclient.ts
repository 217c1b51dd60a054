/*
 * librumpclient: the syscall surface of a remote rump kernel (NetBSD's
 * lib/librumpclient).  rumpclient_init() connects to the server named by
 * RUMP_SERVER, checks its protocol version and gets a process of its own
 * in that kernel; the RumpClient it resolves to implements SysApi, so a
 * program or rump.* tool written against an embedded kernel's sys runs
 * unchanged against a rump_server.
 *
 *   const c = await rumpclient_init('unix:///tmp/rumpsock');
 *   const s = await c.socket(AF_INET, SOCK_STREAM);
 *
 * Calls are tagged and may overlap.  Failures are SyscallErrors with
 * NetBSD errno numbers, as from the kernel itself.  If the server goes
 * away, calls in progress and every later call fail with ENOTCONN.  The
 * connection keeps the Node process alive only while a call is in
 * progress, so an idle client does not hold a finished program open.
 * The wire is described in librump/rumpuser/sysproxy.md.
 */

import type { Socket } from 'node:net';
import { EINVAL, EIO, EMSGSIZE, ENOENT, ENOTCONN, EPROGMISMATCH, ETIMEDOUT, SyscallError } from '../../include/errno.ts';
import type { SysApi } from '../../include/sysapi.ts';
import type { Mmsghdr, RecvMmsghdr, Sockaddr } from '../../include/socket.ts';
import {
  SYS___fstat50, SYS___socket30, SYS___sysctl, SYS_bind, SYS_close, SYS_connect, SYS_dup, SYS_dup2, SYS_fcntl,
  SYS_getpeername, SYS_getpid, SYS_getsockname, SYS_getsockopt, SYS_ioctl, SYS_listen, SYS_open, SYS_paccept, SYS_pipe2,
  SYS_poll, SYS_read, SYS_reboot, SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg, SYS_sendmmsg, SYS_sendmsg, SYS_sendto,
  SYS_setsockopt, SYS_shutdown, SYS_socketpair, SYS_write, type PollFd, type Stat,
} from '../../include/syscall.ts';
import type { SysctlName, SysctlValue } from '../../librump/rumpkern/kern_sysctl.ts';
import {
  SP_CALL, SP_ERROR, SP_HANDSHAKE, SP_HELLO, SP_MAXIO, SP_REPLY, SP_VERSION, SP_WELCOME,
  SpFormatError, SpFramer, SpReader, SpWriter, sp_decode, sp_read_preamble, sp_write_preamble, type SpValue,
} from '../../librump/rumpuser/sp_common.ts';
import { sp_dial } from '../../librump/rumpuser/rumpuser_sp.ts';
import { createNet, type Net } from '../nodenet/net.ts';

export interface RumpClientOptions {
  /** The process name the server gives this client (ps, messages); default the program's name. */
  comm?: string;
  /** How long to wait for the server's greeting, ms; default 5000. */
  timeoutMs?: number;
}

interface Pending {
  readonly name: string;
  readonly resolve: (v: SpValue) => void;
  readonly reject: (e: Error) => void;
}

const utf8 = new TextEncoder();

function record(v: SpValue): Record<string, SpValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? v as Record<string, SpValue> : {};
}

function too_big(call: string, n: number): SyscallError {
  return new SyscallError(EMSGSIZE, call, `${n} bytes exceed the syscall proxy's ${SP_MAXIO} per call`);
}

/** Byte counts for buffers, cut so that their total fits in one reply (a short read). */
function cap_lens(bufs: readonly Uint8Array[]): number[] {
  let left = SP_MAXIO;
  return bufs.map((b) => {
    const n = Math.min(b.length, left);
    left -= n;
    return n;
  });
}

/** A connection to a rump_server, with a process of its own in the server's kernel. */
export class RumpClient implements SysApi {
  /** The server's HELLO banner ("NetBSD 10.0 rumpts 0.1.0 (host)"). */
  readonly banner: string;
  /** This client's process in the server's kernel. */
  readonly pid: number;
  private readonly pending = new Map<number, Pending>();
  private nexttag = 1;
  /** Why calls fail now; null while connected. */
  private dead: string | null = null;
  private netapi: Net | null = null;
  private readonly closed: Promise<void>;

  private constructor(readonly url: string, private readonly sock: Socket, framer: SpFramer, hello: { banner: string; pid: number }) {
    this.banner = hello.banner;
    this.pid = hello.pid;
    this.closed = new Promise((resolve) => { sock.once('close', () => { resolve(); }); });
    framer.retarget((type, tag, body) => { this.frame(type, tag, body); }, () => { this.lose('the server sent a malformed frame'); });
    sock.on('close', () => { this.lose(`connection to the rump server at ${url} closed`); });
    sock.unref();
  }

  /** Connect and handshake; see rumpclient_init. */
  static async connect(url: string, opts: RumpClientOptions = {}): Promise<RumpClient> {
    const sock = await sp_dial(url);
    const comm = opts.comm ?? (process.argv[1]?.split('/').pop() ?? 'node');
    const fail = (errno: number, detail: string): SyscallError => {
      sock.destroy();
      return new SyscallError(errno, 'rumpclient_init', `${url}: ${detail}`);
    };
    return new Promise<RumpClient>((resolve, reject) => {
      let banner = '';
      let settled = false;
      const finish = (r: RumpClient | SyscallError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (r instanceof RumpClient) resolve(r);
        else reject(r);
      };
      const timer = setTimeout(() => { finish(fail(ETIMEDOUT, 'no greeting from the server (is it a rump_server?)')); }, opts.timeoutMs ?? 5000);
      const framer = new SpFramer((type, tag, body) => {
        try {
          if (type === SP_HELLO) {
            const r = new SpReader(body);
            const version = sp_read_preamble(r);
            if (version !== SP_VERSION) {
              finish(fail(EPROGMISMATCH, `protocol version mismatch: the server speaks version ${version}, this client ${SP_VERSION}`));
              return;
            }
            banner = String(record(r.value())['banner'] ?? '');
            const w = new SpWriter();
            sp_write_preamble(w);
            w.value({ comm });
            for (const s of w.finish(SP_HANDSHAKE, 0)) sock.write(s);
          } else if (type === SP_WELCOME) {
            const pid = record(sp_decode(body))['pid'];
            finish(new RumpClient(url, sock, framer, { banner, pid: typeof pid === 'number' ? pid : 0 }));
          } else if (type === SP_ERROR) {
            const [errno, , detail] = sp_decode(body) as [number, string, string | null];
            finish(fail(typeof errno === 'number' ? errno : EIO, `the server refused: ${detail ?? 'no reason given'}`));
          } else {
            finish(fail(EIO, `unexpected frame type ${type} during the handshake`));
          }
        } catch (e) {
          finish(fail(EIO, `malformed handshake from the server: ${e instanceof Error ? e.message : String(e)}`));
        }
        void tag;
      }, () => { finish(fail(EIO, 'the server sent a malformed frame')); });
      sock.on('data', (chunk: Buffer) => { framer.push(chunk); });
      sock.once('close', () => { finish(fail(ENOTCONN, 'the server closed the connection during the handshake')); });
    });
  }

  private frame(type: number, tag: number, body: Uint8Array): void {
    if (type === SP_ERROR && tag === 0) {
      let why = 'the server ended the connection';
      try {
        const v = sp_decode(body);
        if (Array.isArray(v) && typeof v[2] === 'string') why = `the server ended the connection: ${v[2]}`;
      } catch {
        /* the reason is lost, not the fact */
      }
      this.lose(why);
      return;
    }
    const p = this.pending.get(tag);
    if (p === undefined) return;
    this.pending.delete(tag);
    if (this.pending.size === 0) this.sock.unref();
    let v: SpValue;
    try {
      v = sp_decode(body);
    } catch (e) {
      p.reject(new SyscallError(EIO, p.name, `malformed reply: ${(e as Error).message}`));
      return;
    }
    if (type === SP_REPLY) {
      p.resolve(v);
    } else if (type === SP_ERROR && Array.isArray(v) && typeof v[0] === 'number') {
      const detail = typeof v[2] === 'string' ? v[2] : undefined;
      p.reject(new SyscallError(v[0], typeof v[1] === 'string' ? v[1] : p.name, detail));
    } else {
      p.reject(new SyscallError(EIO, p.name, `unexpected reply frame type ${type}`));
    }
  }

  /** The connection is gone: every call in progress fails, and so will later ones. */
  private lose(why: string): void {
    if (this.dead === null) this.dead = why;
    this.sock.destroy();
    const ps = [...this.pending.values()];
    this.pending.clear();
    for (const p of ps) p.reject(new SyscallError(ENOTCONN, p.name, this.dead));
  }

  /** Send a call and wait for its reply. */
  private call(sysnum: number, name: string, args: readonly unknown[]): Promise<SpValue> {
    if (this.dead !== null) return Promise.reject(new SyscallError(ENOTCONN, name, this.dead));
    const tag = this.nexttag;
    this.nexttag = (tag + 1) >>> 0 || 1;
    let segs: Uint8Array[];
    try {
      const w = new SpWriter();
      w.u16(sysnum);
      w.value(args);
      segs = w.finish(SP_CALL, tag);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return Promise.reject(new SyscallError(e instanceof SpFormatError && /limit/.test(msg) ? EMSGSIZE : EINVAL, name, msg));
    }
    return new Promise<SpValue>((resolve, reject) => {
      if (this.pending.size === 0) this.sock.ref();
      this.pending.set(tag, { name, resolve, reject });
      if (segs.length === 1) this.sock.write(segs[0]!);
      else {
        this.sock.cork();
        for (const s of segs) this.sock.write(s);
        this.sock.uncork();
      }
    });
  }

  /** open(2) of a device node in the server's kernel (/dev/bpf, ...). */
  async open(path: string, flags = 0): Promise<number> {
    return await this.call(SYS_open, 'open', [path, flags]) as number;
  }

  /** close(2) a descriptor. */
  close(fd: number): Promise<void>;
  /** Without a descriptor: close the connection; the server ends this client's process. */
  close(): Promise<void>;
  async close(fd?: number): Promise<void> {
    if (fd !== undefined) {
      await this.call(SYS_close, 'close', [fd]);
      return;
    }
    if (this.dead === null) this.dead = 'the client closed its connection';
    this.lose(this.dead);
    await this.closed;
  }

  /** Node-compatible sockets (net.createServer, net.connect, ...) in the server's kernel. */
  get net(): Net {
    if (this.netapi === null) this.netapi = createNet(this);
    return this.netapi;
  }

  async getpid(): Promise<number> {
    return await this.call(SYS_getpid, 'getpid', []) as number;
  }

  /** read(2) into buf (at most SP_MAXIO bytes per call). */
  async read(fd: number, buf: Uint8Array): Promise<number> {
    const got = await this.call(SYS_read, 'read', [fd, Math.min(buf.length, SP_MAXIO)]) as Uint8Array;
    buf.set(got);
    return got.length;
  }

  /** write(2); more than SP_MAXIO bytes is a short write, as a full pipe would make. */
  async write(fd: number, data: Uint8Array | string): Promise<number> {
    const buf = typeof data === 'string' ? utf8.encode(data) : data;
    return await this.call(SYS_write, 'write', [fd, buf.length > SP_MAXIO ? buf.subarray(0, SP_MAXIO) : buf]) as number;
  }

  async dup(fd: number): Promise<number> {
    return await this.call(SYS_dup, 'dup', [fd]) as number;
  }

  async dup2(from: number, to: number): Promise<number> {
    return await this.call(SYS_dup2, 'dup2', [from, to]) as number;
  }

  async fcntl(fd: number, cmd: number, arg = 0): Promise<number> {
    return await this.call(SYS_fcntl, 'fcntl', [fd, cmd, arg]) as number;
  }

  async ioctl(fd: number, cmd: number, arg?: unknown): Promise<unknown> {
    return await this.call(SYS_ioctl, 'ioctl', [fd, cmd, arg]);
  }

  async poll(fds: PollFd[], timeoutMs: number): Promise<number> {
    const flat: number[] = [];
    for (const f of fds) flat.push(f.fd, f.events);
    const r = await this.call(SYS_poll, 'poll', [flat, timeoutMs]) as number[];
    for (let i = 0; i < fds.length; i++) fds[i]!.revents = r[i + 1] ?? 0;
    return r[0]!;
  }

  async pipe(flags = 0): Promise<[number, number]> {
    return await this.call(SYS_pipe2, 'pipe2', [flags]) as [number, number];
  }

  async fstat(fd: number): Promise<Stat> {
    return await this.call(SYS___fstat50, 'fstat', [fd]) as unknown as Stat;
  }

  async sysctl(name: SysctlName, newValue?: SysctlValue): Promise<SysctlValue> {
    return await this.call(SYS___sysctl, 'sysctl', [name, newValue]) as SysctlValue;
  }

  async socket(domain: number, type: number, protocol = 0): Promise<number> {
    return await this.call(SYS___socket30, 'socket', [domain, type, protocol]) as number;
  }

  async socketpair(domain: number, type: number, protocol = 0): Promise<[number, number]> {
    return await this.call(SYS_socketpair, 'socketpair', [domain, type, protocol]) as [number, number];
  }

  async bind(s: number, addr: Sockaddr): Promise<void> {
    await this.call(SYS_bind, 'bind', [s, addr]);
  }

  async listen(s: number, backlog: number): Promise<void> {
    await this.call(SYS_listen, 'listen', [s, backlog]);
  }

  async accept(s: number, flags = 0): Promise<{ fd: number; addr: Sockaddr | null }> {
    return await this.call(SYS_paccept, 'accept', [s, flags]) as unknown as { fd: number; addr: Sockaddr | null };
  }

  async connect(s: number, addr: Sockaddr): Promise<void> {
    await this.call(SYS_connect, 'connect', [s, addr]);
  }

  /** sendto(2); one call carries at most SP_MAXIO bytes (more is EMSGSIZE: a datagram cannot be cut short). */
  async sendto(s: number, data: Uint8Array | string, flags = 0, to?: Sockaddr): Promise<number> {
    const buf = typeof data === 'string' ? utf8.encode(data) : data;
    if (buf.length > SP_MAXIO) throw too_big('sendto', buf.length);
    return await this.call(SYS_sendto, 'sendto', [s, buf, flags, to ?? null]) as number;
  }

  send(s: number, data: Uint8Array | string, flags = 0): Promise<number> {
    return this.sendto(s, data, flags);
  }

  async recvfrom(s: number, buf: Uint8Array, flags = 0): Promise<{ n: number; from: Sockaddr | null; flags: number }> {
    const [got, from, rflags] = await this.call(SYS_recvfrom, 'recvfrom', [s, Math.min(buf.length, SP_MAXIO), flags]) as [Uint8Array, Sockaddr | null, number];
    buf.set(got);
    return { n: got.length, from, flags: rflags };
  }

  async recv(s: number, buf: Uint8Array, flags = 0): Promise<number> {
    return (await this.recvfrom(s, buf, flags)).n;
  }

  async sendmsg(s: number, iov: Uint8Array[], to?: Sockaddr, flags = 0): Promise<number> {
    const total = iov.reduce((n, b) => n + b.length, 0);
    if (total > SP_MAXIO) throw too_big('sendmsg', total);
    return await this.call(SYS_sendmsg, 'sendmsg', [s, iov, to ?? null, flags]) as number;
  }

  async recvmsg(s: number, iov: Uint8Array[], flags = 0): Promise<{ n: number; from: Sockaddr | null; flags: number }> {
    const [got, from, rflags] = await this.call(SYS_recvmsg, 'recvmsg', [s, cap_lens(iov), flags]) as [Uint8Array, Sockaddr | null, number];
    let o = 0;
    for (const b of iov) {
      if (o >= got.length) break;
      const k = Math.min(b.length, got.length - o);
      b.set(got.subarray(o, o + k));
      o += k;
    }
    return { n: got.length, from, flags: rflags };
  }

  async sendmmsg(s: number, msgs: readonly Mmsghdr[], flags = 0): Promise<number> {
    return await this.call(SYS_sendmmsg, 'sendmmsg', [s, msgs.map((m) => [m.buf, m.to ?? null]), flags]) as number;
  }

  async recvmmsg(s: number, msgs: RecvMmsghdr[], flags = 0, wantFrom = true): Promise<number> {
    const got = await this.call(SYS_recvmmsg, 'recvmmsg', [s, cap_lens(msgs.map((m) => m.buf)), flags, wantFrom]) as [Uint8Array, Sockaddr | null, number][];
    for (let i = 0; i < got.length; i++) {
      const [b, from, mflags] = got[i]!;
      const m = msgs[i]!;
      m.buf.set(b);
      m.n = b.length;
      m.from = wantFrom ? from : null;
      m.flags = mflags;
    }
    return got.length;
  }

  async shutdown(s: number, how: number): Promise<void> {
    await this.call(SYS_shutdown, 'shutdown', [s, how]);
  }

  async setsockopt(s: number, level: number, name: number, value: unknown): Promise<void> {
    await this.call(SYS_setsockopt, 'setsockopt', [s, level, name, value]);
  }

  async getsockopt(s: number, level: number, name: number): Promise<unknown> {
    return await this.call(SYS_getsockopt, 'getsockopt', [s, level, name]);
  }

  async getsockname(s: number): Promise<Sockaddr | null> {
    return await this.call(SYS_getsockname, 'getsockname', [s]) as unknown as Sockaddr | null;
  }

  async getpeername(s: number): Promise<Sockaddr | null> {
    return await this.call(SYS_getpeername, 'getpeername', [s]) as unknown as Sockaddr | null;
  }

  /** reboot(2): halts the server's kernel; the server then stops serving. */
  async reboot(howto = 0): Promise<void> {
    await this.call(SYS_reboot, 'reboot', [howto]);
  }
}

/**
 * rumpclient_init(3): connect to the rump server at url (RUMP_SERVER by
 * default).  Rejects with a SyscallError: ENOENT if no URL is given,
 * EINVAL for a malformed one, the connect errno (ENOENT, ECONNREFUSED,
 * EACCES) if the server cannot be reached, EPROGMISMATCH for another
 * protocol version.
 */
export function rumpclient_init(url: string | undefined = process.env['RUMP_SERVER'], opts: RumpClientOptions = {}): Promise<RumpClient> {
  if (url === undefined || url === '') {
    return Promise.reject(new SyscallError(ENOENT, 'rumpclient_init', 'RUMP_SERVER is not set (export RUMP_SERVER=unix:///path/to/socket)'));
  }
  return RumpClient.connect(url, opts);
}
