/*
 * The kernel side of the syscall proxy (NetBSD's rump_sp upcalls in
 * rump.c and rumpkern's sysproxy glue).  The host half
 * (librump/rumpuser/rumpuser_sp.ts) owns the sockets and the wire; for
 * each client connection it asks for a process here
 * (hyp_lwproc_rfork: a child of init with an empty descriptor table),
 * runs the client's calls in it (hyp_syscall) and ends it when the client
 * goes away (hyp_lwpexit: sleeping calls fail with EINTR, descriptors are
 * closed).
 *
 * Each call arrives as a syscall number and plain values.  Everything a
 * client sends is checked here before it reaches RumpSys, so a bad
 * argument is EINVAL for that call, never an exception inside the kernel.
 * Calls whose buffers the kernel fills take a byte count instead of a
 * buffer and answer with the bytes received; the client library copies
 * them into the caller's own Uint8Array.
 */

import type { Kernel } from './rump.ts';
import { rump_lwproc_rfork, rump_proc_exit, OSRELEASE, OSTYPE, RUMP_RFCFDG, RUMPTS_VERSION } from './rump.ts';
import type { Proc } from './lwproc.ts';
import type { RumpSys } from './rump_syscalls.ts';
import type { SysctlName, SysctlValue } from './kern_sysctl.ts';
import { EINVAL, ENOSYS, SyscallError } from '../../include/errno.ts';
import {
  SYS___fstat50, SYS___socket30, SYS___sysctl, SYS_bind, SYS_close, SYS_connect, SYS_dup, SYS_dup2, SYS_fcntl,
  SYS_getpeername, SYS_getpid, SYS_getsockname, SYS_getsockopt, SYS_ioctl, SYS_listen, SYS_open, SYS_paccept, SYS_pipe2,
  SYS_poll, SYS_read, SYS_reboot, SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg, SYS_sendmmsg, SYS_sendmsg, SYS_sendto,
  SYS_setsockopt, SYS_shutdown, SYS_socketpair, SYS_write, type PollFd,
} from '../../include/syscall.ts';
import type { Mmsghdr, RecvMmsghdr, Sockaddr } from '../../include/socket.ts';
import { SP_MAXIO, SP_MAXIOV, type SpHyperup, type SpValue } from '../rumpuser/sp_common.ts';

/** A client's process. */
export interface SpProc {
  readonly proc: Proc;
  readonly sys: RumpSys;
  /** A read buffer kept between calls (a read returns far less than it asks for, and zeroing the ask each time costs more than the call). */
  rbuf: Uint8Array | null;
}

/** Largest read buffer kept between calls; results up to SP_RBUF_COPY bytes are copied out so it can be. */
const SP_RBUF_KEEP = 4 * 1024 * 1024;
const SP_RBUF_COPY = 64 * 1024;

function rbuf_get(p: SpProc, len: number): Uint8Array {
  const b = p.rbuf;
  if (b !== null && b.length >= len) {
    p.rbuf = null;
    return b;
  }
  return new Uint8Array(len);
}

/** The first n bytes of b as the reply; b goes back to p unless the reply holds on to it. */
function rbuf_put(p: SpProc, b: Uint8Array, n: number): Uint8Array {
  if (n > SP_RBUF_COPY || b.length > SP_RBUF_KEEP) return b.subarray(0, n);
  const out = b.slice(0, n);
  if (p.rbuf === null || p.rbuf.length < b.length) p.rbuf = b;
  return out;
}

export interface RumpSpOptions {
  /** A client's reboot(2) halted the kernel; the server stops serving. */
  onhalt?: (howto: number) => void;
}

/** Checked access to one call's arguments; a mismatch is EINVAL naming the argument. */
class SpArgs {
  constructor(readonly name: string, private readonly a: readonly SpValue[]) {}

  private fail(i: number, want: string): never {
    throw new SyscallError(EINVAL, this.name, `argument ${i + 1}: expected ${want}`);
  }

  int(i: number): number {
    const v = this.a[i];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(i, 'an integer');
    return v;
  }

  /** An optional integer argument with its default. */
  optint(i: number, dflt: number): number {
    return this.a[i] === undefined ? dflt : this.int(i);
  }

  bool(i: number): boolean {
    const v = this.a[i];
    if (typeof v !== 'boolean') this.fail(i, 'a boolean');
    return v;
  }

  /** A byte count for a buffer the kernel fills. */
  len(i: number): number {
    const n = this.int(i);
    if (n < 0 || n > SP_MAXIO) this.fail(i, `a length of 0..${SP_MAXIO}`);
    return n;
  }

  /** A list of byte counts whose sum fits in one reply. */
  lens(i: number): number[] {
    const v = this.a[i];
    if (!Array.isArray(v) || v.length > SP_MAXIOV) this.fail(i, `an array of at most ${SP_MAXIOV} lengths`);
    let sum = 0;
    const out: number[] = [];
    for (const n of v as readonly SpValue[]) {
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) this.fail(i, 'an array of lengths');
      sum += n;
      out.push(n);
    }
    if (sum > SP_MAXIO) this.fail(i, `lengths totalling at most ${SP_MAXIO}`);
    return out;
  }

  str(i: number): string {
    const v = this.a[i];
    if (typeof v !== 'string') this.fail(i, 'a string');
    return v;
  }

  bytes(i: number): Uint8Array {
    const v = this.a[i];
    if (!(v instanceof Uint8Array)) this.fail(i, 'bytes');
    return v;
  }

  /** write(2)'s data: bytes or a string. */
  data(i: number): Uint8Array | string {
    const v = this.a[i];
    if (!(v instanceof Uint8Array) && typeof v !== 'string') this.fail(i, 'bytes or a string');
    return v;
  }

  sockaddr(i: number): Sockaddr {
    const v = this.a[i];
    if (!sp_sockaddr_ok(v)) this.fail(i, 'a socket address ({sin_family, sin_port, sin_addr} or {sun_family, sun_path})');
    return v as unknown as Sockaddr;
  }

  optsockaddr(i: number): Sockaddr | undefined {
    return this.a[i] === undefined || this.a[i] === null ? undefined : this.sockaddr(i);
  }

  /** A value the kernel interprets itself (ioctl, sysctl and socket option data). */
  any(i: number): unknown {
    return this.a[i];
  }

  array(i: number, max: number): readonly SpValue[] {
    const v = this.a[i];
    if (!Array.isArray(v) || v.length > max) this.fail(i, `an array of at most ${max} elements`);
    return v as readonly SpValue[];
  }
}

function isrecord(v: SpValue): v is { readonly [key: string]: SpValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** The shape sockaddr_from_user reads, with the types it relies on. */
function sp_sockaddr_ok(v: SpValue): boolean {
  if (!isrecord(v)) return false;
  if ('sin_family' in v) return typeof v['sin_family'] === 'number' && typeof v['sin_port'] === 'number' && typeof v['sin_addr'] === 'string';
  if ('sun_family' in v) return typeof v['sun_family'] === 'number' && typeof v['sun_path'] === 'string';
  return false;
}

function sysctl_name(a: SpArgs, v: SpValue): SysctlName {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.length <= 32 && (v as readonly SpValue[]).every((n) => typeof n === 'number' && Number.isInteger(n))) {
    return v as readonly number[];
  }
  throw new SyscallError(EINVAL, a.name, 'argument 1: expected a sysctl name or MIB');
}

type SpCall = (sys: RumpSys, a: SpArgs, opts: RumpSpOptions, p: SpProc) => Promise<unknown>;

/* The calls a client may make, by NetBSD syscall number, with the arguments each carries. */
const sp_calls = new Map<number, readonly [string, SpCall]>([
  [SYS_getpid, ['getpid', (sys) => sys.getpid()]],
  [SYS_read, ['read', async (sys, a, _o, p) => {
    const len = a.len(1);
    const fd = a.int(0);
    const buf = rbuf_get(p, len);
    return rbuf_put(p, buf, await sys.read(fd, buf.subarray(0, len)));
  }]],
  [SYS_write, ['write', (sys, a) => sys.write(a.int(0), a.data(1))]],
  [SYS_open, ['open', (sys, a) => sys.open(a.str(0), a.optint(1, 0))]],
  [SYS_close, ['close', (sys, a) => sys.close(a.int(0))]],
  [SYS_dup, ['dup', (sys, a) => sys.dup(a.int(0))]],
  [SYS_dup2, ['dup2', (sys, a) => sys.dup2(a.int(0), a.int(1))]],
  [SYS_fcntl, ['fcntl', (sys, a) => sys.fcntl(a.int(0), a.int(1), a.optint(2, 0))]],
  [SYS_ioctl, ['ioctl', (sys, a) => sys.ioctl(a.int(0), a.int(1), a.any(2))]],
  [SYS_poll, ['poll', async (sys, a) => {
    /* fds travel as [fd, events, fd, events, ...]; the reply is [n, revents...]. */
    const flat = a.array(0, 2 * SP_MAXIOV);
    if (flat.length % 2 !== 0 || !flat.every((n) => typeof n === 'number' && Number.isInteger(n))) {
      throw new SyscallError(EINVAL, 'poll', 'argument 1: expected [fd, events] pairs');
    }
    const fds: PollFd[] = [];
    for (let i = 0; i < flat.length; i += 2) fds.push({ fd: flat[i] as number, events: flat[i + 1] as number, revents: 0 });
    const n = await sys.poll(fds, a.int(1));
    return [n, ...fds.map((f) => f.revents)];
  }]],
  [SYS_pipe2, ['pipe', (sys, a) => sys.pipe(a.optint(0, 0))]],
  [SYS___fstat50, ['fstat', (sys, a) => sys.fstat(a.int(0))]],
  [SYS___sysctl, ['sysctl', (sys, a) => sys.sysctl(sysctl_name(a, a.any(0) as SpValue), a.any(1) as SysctlValue | undefined)]],
  [SYS___socket30, ['socket', (sys, a) => sys.socket(a.int(0), a.int(1), a.optint(2, 0))]],
  [SYS_socketpair, ['socketpair', (sys, a) => sys.socketpair(a.int(0), a.int(1), a.optint(2, 0))]],
  [SYS_bind, ['bind', (sys, a) => sys.bind(a.int(0), a.sockaddr(1))]],
  [SYS_listen, ['listen', (sys, a) => sys.listen(a.int(0), a.int(1))]],
  [SYS_paccept, ['accept', (sys, a) => sys.accept(a.int(0), a.optint(1, 0))]],
  [SYS_connect, ['connect', (sys, a) => sys.connect(a.int(0), a.sockaddr(1))]],
  [SYS_sendto, ['sendto', (sys, a) => sys.sendto(a.int(0), a.data(1), a.optint(2, 0), a.optsockaddr(3))]],
  [SYS_recvfrom, ['recvfrom', async (sys, a, _o, p) => {
    const len = a.len(1);
    const s = a.int(0);
    const flags = a.optint(2, 0);
    const buf = rbuf_get(p, len);
    const r = await sys.recvfrom(s, buf.subarray(0, len), flags);
    return [rbuf_put(p, buf, r.n), r.from, r.flags];
  }]],
  [SYS_sendmsg, ['sendmsg', (sys, a) => {
    const iov = a.array(1, SP_MAXIOV);
    if (!iov.every((b) => b instanceof Uint8Array)) throw new SyscallError(EINVAL, 'sendmsg', 'argument 2: expected an array of bytes');
    return sys.sendmsg(a.int(0), iov as Uint8Array[], a.optsockaddr(2), a.optint(3, 0));
  }]],
  [SYS_recvmsg, ['recvmsg', async (sys, a) => {
    /* The reply carries the bytes received in one piece; the client scatters them. */
    const iov = a.lens(1).map((n) => new Uint8Array(n));
    const r = await sys.recvmsg(a.int(0), iov, a.optint(2, 0));
    const out = new Uint8Array(r.n);
    let o = 0;
    for (const b of iov) {
      if (o >= r.n) break;
      const k = Math.min(b.length, r.n - o);
      out.set(b.subarray(0, k), o);
      o += k;
    }
    return [out, r.from, r.flags];
  }]],
  [SYS_sendmmsg, ['sendmmsg', (sys, a) => {
    const msgs: Mmsghdr[] = [];
    for (const m of a.array(1, SP_MAXIOV)) {
      if (!Array.isArray(m) || !(m[0] instanceof Uint8Array)) throw new SyscallError(EINVAL, 'sendmmsg', 'argument 2: expected [bytes, address] messages');
      const to = m[1] as SpValue;
      if (to !== null && to !== undefined && !sp_sockaddr_ok(to)) throw new SyscallError(EINVAL, 'sendmmsg', 'argument 2: a message has a malformed address');
      msgs.push(to === null || to === undefined ? { buf: m[0] } : { buf: m[0], to: to as unknown as Sockaddr });
    }
    return sys.sendmmsg(a.int(0), msgs, a.optint(2, 0));
  }]],
  [SYS_recvmmsg, ['recvmmsg', async (sys, a) => {
    const msgs: RecvMmsghdr[] = a.lens(1).map((n) => ({ buf: new Uint8Array(n), n: 0, from: null, flags: 0 }));
    const n = await sys.recvmmsg(a.int(0), msgs, a.optint(2, 0), a.bool(3));
    return msgs.slice(0, n).map((m) => [m.buf.subarray(0, m.n), m.from, m.flags]);
  }]],
  [SYS_shutdown, ['shutdown', (sys, a) => sys.shutdown(a.int(0), a.int(1))]],
  [SYS_setsockopt, ['setsockopt', (sys, a) => sys.setsockopt(a.int(0), a.int(1), a.int(2), a.any(3))]],
  [SYS_getsockopt, ['getsockopt', (sys, a) => sys.getsockopt(a.int(0), a.int(1), a.int(2))]],
  [SYS_getsockname, ['getsockname', (sys, a) => sys.getsockname(a.int(0))]],
  [SYS_getpeername, ['getpeername', (sys, a) => sys.getpeername(a.int(0))]],
  [SYS_reboot, ['reboot', async (sys, a, opts) => {
    const howto = a.optint(0, 0);
    await sys.reboot(howto);
    opts.onhalt?.(howto);
  }]],
]);

/** The name of a proxied call, for messages; undefined for an unknown number. */
export function sp_callname(sysnum: number): string | undefined {
  return sp_calls.get(sysnum)?.[0];
}

/** The kernel's upcalls for rumpuser_sp_init: serve k's syscalls to remote clients. */
export function rump_sp_hyperup(k: Kernel, opts: RumpSpOptions = {}): SpHyperup<SpProc> {
  return {
    sp_banner: `${OSTYPE} ${OSRELEASE} ${RUMPTS_VERSION} (${k.hostname})`,
    hyp_lwproc_rfork(comm: string): SpProc {
      const { proc, sys } = rump_lwproc_rfork(k, RUMP_RFCFDG, comm.slice(0, 16) || 'rumpclient');
      return { proc, sys, rbuf: null };
    },
    hyp_getpid(p: SpProc): number {
      return p.proc.p_pid;
    },
    hyp_syscall(p: SpProc, sysnum: number, args: readonly SpValue[]): Promise<unknown> {
      const c = sp_calls.get(sysnum);
      if (c === undefined) return Promise.reject(new SyscallError(ENOSYS, `syscall ${sysnum}`, 'not offered by the syscall proxy'));
      try {
        return c[1](p.sys, new SpArgs(c[0], args), opts, p);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    async hyp_lwpexit(p: SpProc): Promise<void> {
      if (k.dying) return;
      await rump_proc_exit(k, p.proc);
    },
  };
}
