/*
 * The syscall table and the rump_sys_* surface.
 *
 * sysent maps NetBSD syscall numbers to handlers; components fill it at the
 * SYSCALL init level (syscall_establish), and an empty slot answers ENOSYS,
 * as in rump.  A call runs as an implicit LWP of the calling process: it
 * waits for the CPU if another context holds it, runs the handler (which
 * returns an errno, NetBSD style, with results in a Retval), gives the CPU
 * back, and turns a nonzero errno into a thrown SyscallError.
 *
 * RumpSys is the typed, promise-based face of the table for one process:
 * `await k.sys.read(fd, buf)`.
 */

import type { Kernel } from './rump.ts';
import { lwp_leave_check, lwp_schedule } from './rump.ts';
import { lwp_create, lwp_exit, type Lwp, type Proc } from './lwproc.ts';
import { cpu_release, entry_exception } from './intr.ts';
import { KernelHalted } from './ltsleep.ts';
import { KernelPanic } from './subr_prf.ts';
import { EINTR, EINVAL, ENOSYS, ENXIO, ESRCH, SyscallError } from '../../include/errno.ts';
import {
  SYS___fstat50, SYS___socket30, SYS___sysctl, SYS_bind, SYS_close, SYS_connect, SYS_dup, SYS_dup2, SYS_fcntl,
  SYS_getpeername, SYS_getpid, SYS_getsockname, SYS_getsockopt, SYS_ioctl, SYS_listen, SYS_open, SYS_paccept, SYS_pipe2,
  SYS_poll, SYS_read, SYS_reboot, SYS_recvfrom, SYS_recvmsg, SYS_sendmsg, SYS_sendto, SYS_setsockopt,
  SYS_shutdown, SYS_socketpair, SYS_write, SYS_sendmmsg, SYS_recvmmsg, type PollFd, type Stat,
} from '../../include/syscall.ts';
import type { Mmsghdr, RecvMmsghdr, Sockaddr } from '../../include/socket.ts';
import { sockaddr_from_user, sockaddr_to_user } from '../rumpnet/sockaddr.ts';
import type { SysctlName, SysctlValue } from './kern_sysctl.ts';

/** What a handler hands back besides its errno (register_t retval[2], or an object). */
export class Retval {
  rv0 = 0;
  rv1 = 0;
  value: unknown = undefined;
}

export type SyscallHandler<A> = (l: Lwp, uap: A, rv: Retval) => number | Promise<number>;

export interface Sysent {
  readonly name: string;
  readonly call: SyscallHandler<never>;
}

/** Register handlers (at the SYSCALL init level). */
export function syscall_establish(k: Kernel, entries: readonly (readonly [number, Sysent])[]): void {
  for (const [num, ent] of entries) k.sysent[num] = ent;
}

/** Remove handlers (a component going away). */
export function syscall_disestablish(k: Kernel, nums: readonly number[]): void {
  for (const num of nums) k.sysent[num] = undefined;
}

/**
 * rump_syscall: run syscall `num` for process p.  Throws SyscallError for a
 * nonzero errno, KernelPanic if the kernel panicked.
 */
export async function rump_syscall(k: Kernel, p: Proc, num: number, name: string, uap: unknown, rv: Retval): Promise<void> {
  if (k.panicstr !== null) throw new KernelPanic(k.name, k.panicstr);
  if (k.dying) throw new SyscallError(ENXIO, name, 'kernel halted');
  if (p.p_exiting) throw new SyscallError(ESRCH, name, `pid ${p.p_pid} has exited`);
  const ent = k.sysent[num];
  if (ent === undefined) throw new SyscallError(ENOSYS, name);
  const l = lwp_create(k, p, name, 0);
  k.hyp.rumpuser_sp_activity(1);
  let error = 0;
  try {
    const w = lwp_schedule(k, l);
    if (w !== null) await w;
    if (k.panicstr !== null) throw new KernelPanic(k.name, k.panicstr);
    k.tick_sync();
    const r = ent.call(l, uap as never, rv);
    error = typeof r === 'number' ? r : await r;
    lwp_leave_check(k, l, 'syscall');
  } catch (e) {
    if (e instanceof KernelHalted) error = EINTR;
    else {
      if (!(e instanceof KernelPanic)) entry_exception(k, e, `syscall ${name}`);
      throw new KernelPanic(k.name, k.panicstr ?? String(e));
    }
  } finally {
    if (k.cpu.ci_curlwp === l) cpu_release(k, l);
    lwp_exit(k, l);
    k.hyp.rumpuser_sp_activity(-1);
  }
  if (error !== 0) throw new SyscallError(error, name);
}

/** The typed syscall surface for one process. */
export class RumpSys {
  constructor(readonly k: Kernel, readonly p: Proc) {}

  private async call(num: number, name: string, uap: unknown): Promise<Retval> {
    const rv = new Retval();
    await rump_syscall(this.k, this.p, num, name, uap, rv);
    return rv;
  }

  async getpid(): Promise<number> {
    return (await this.call(SYS_getpid, 'getpid', {})).rv0;
  }

  /** read(2) into buf; resolves to the byte count (0 at end-of-file). */
  async read(fd: number, buf: Uint8Array): Promise<number> {
    return (await this.call(SYS_read, 'read', { fd, buf })).rv0;
  }

  /** write(2); a string is written as UTF-8. */
  async write(fd: number, data: Uint8Array | string): Promise<number> {
    const buf = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    return (await this.call(SYS_write, 'write', { fd, buf })).rv0;
  }

  /** open(2) of a device node (/dev/NAME); flags are O_RDONLY/O_WRONLY/O_RDWR plus O_NONBLOCK, O_CLOEXEC... */
  async open(path: string, flags = 0): Promise<number> {
    return (await this.call(SYS_open, 'open', { path, flags })).rv0;
  }

  async close(fd: number): Promise<void> {
    await this.call(SYS_close, 'close', { fd });
  }

  async dup(fd: number): Promise<number> {
    return (await this.call(SYS_dup, 'dup', { fd })).rv0;
  }

  async dup2(from: number, to: number): Promise<number> {
    return (await this.call(SYS_dup2, 'dup2', { from, to })).rv0;
  }

  async fcntl(fd: number, cmd: number, arg = 0): Promise<number> {
    return (await this.call(SYS_fcntl, 'fcntl', { fd, cmd, arg })).rv0;
  }

  /** ioctl(2): arg is the request's input; resolves to its output (if any). */
  async ioctl(fd: number, cmd: number, arg?: unknown): Promise<unknown> {
    const data: { value?: unknown } = { value: arg };
    await this.call(SYS_ioctl, 'ioctl', { fd, cmd, data });
    return data.value;
  }

  /** poll(2): fills each revents; resolves to the number ready. */
  async poll(fds: PollFd[], timeoutMs: number): Promise<number> {
    return (await this.call(SYS_poll, 'poll', { fds, timeout: timeoutMs })).rv0;
  }

  /** pipe2(2): [read end, write end]. */
  async pipe(flags = 0): Promise<[number, number]> {
    const rv = await this.call(SYS_pipe2, 'pipe2', { flags });
    return [rv.rv0, rv.rv1];
  }

  async fstat(fd: number): Promise<Stat> {
    return (await this.call(SYS___fstat50, 'fstat', { fd })).value as Stat;
  }

  /** __sysctl(2) by name or MIB; with newValue, writes it. Resolves to the old value. */
  async sysctl(name: SysctlName, newValue?: SysctlValue): Promise<SysctlValue> {
    return (await this.call(SYS___sysctl, 'sysctl', { name, newValue })).value as SysctlValue;
  }

  /* ---- sockets (ENOSYS until a network faction registers them) ---- */

  private sa(addr: Sockaddr, call: string): Uint8Array {
    const b = sockaddr_from_user(addr);
    if (b === null) throw new SyscallError(EINVAL, call, 'malformed socket address');
    return b;
  }

  /** socket(2); type may carry SOCK_NONBLOCK / SOCK_CLOEXEC. */
  async socket(domain: number, type: number, protocol = 0): Promise<number> {
    return (await this.call(SYS___socket30, 'socket', { domain, type, protocol })).rv0;
  }

  async socketpair(domain: number, type: number, protocol = 0): Promise<[number, number]> {
    const rv = await this.call(SYS_socketpair, 'socketpair', { domain, type, protocol });
    return [rv.rv0, rv.rv1];
  }

  async bind(s: number, addr: Sockaddr): Promise<void> {
    await this.call(SYS_bind, 'bind', { s, name: this.sa(addr, 'bind') });
  }

  async listen(s: number, backlog: number): Promise<void> {
    await this.call(SYS_listen, 'listen', { s, backlog });
  }

  /** accept(2) (paccept with flags): the new descriptor and the peer's address. */
  async accept(s: number, flags = 0): Promise<{ fd: number; addr: Sockaddr | null }> {
    const rv = await this.call(SYS_paccept, 'accept', { s, flags });
    return { fd: rv.rv0, addr: sockaddr_to_user(rv.value as Uint8Array | null) };
  }

  async connect(s: number, addr: Sockaddr): Promise<void> {
    await this.call(SYS_connect, 'connect', { s, name: this.sa(addr, 'connect') });
  }

  /** sendto(2) (send(2) without an address); a string goes as UTF-8. */
  async sendto(s: number, data: Uint8Array | string, flags = 0, to?: Sockaddr): Promise<number> {
    const buf = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const name = to === undefined ? null : this.sa(to, 'sendto');
    return (await this.call(SYS_sendto, 'sendto', { s, buf, flags, to: name })).rv0;
  }

  send(s: number, data: Uint8Array | string, flags = 0): Promise<number> {
    return this.sendto(s, data, flags);
  }

  /** recvfrom(2): bytes received, the sender, and the message flags (MSG_TRUNC, MSG_EOR). */
  async recvfrom(s: number, buf: Uint8Array, flags = 0): Promise<{ n: number; from: Sockaddr | null; flags: number }> {
    const rv = await this.call(SYS_recvfrom, 'recvfrom', { s, buf, flags });
    const v = rv.value as { from: Uint8Array | null; flags: number };
    return { n: rv.rv0, from: sockaddr_to_user(v.from), flags: v.flags };
  }

  async recv(s: number, buf: Uint8Array, flags = 0): Promise<number> {
    return (await this.recvfrom(s, buf, flags)).n;
  }

  /** sendmsg(2) with an address and a gather list. */
  async sendmsg(s: number, iov: Uint8Array[], to?: Sockaddr, flags = 0): Promise<number> {
    const name = to === undefined ? null : this.sa(to, 'sendmsg');
    return (await this.call(SYS_sendmsg, 'sendmsg', { s, iov, name, flags })).rv0;
  }

  /** recvmsg(2) into a scatter list. */
  async recvmsg(s: number, iov: Uint8Array[], flags = 0): Promise<{ n: number; from: Sockaddr | null; flags: number }> {
    const rv = await this.call(SYS_recvmsg, 'recvmsg', { s, iov, flags });
    const v = rv.value as { from: Uint8Array | null; flags: number };
    return { n: rv.rv0, from: sockaddr_to_user(v.from), flags: v.flags };
  }

  /** sendmmsg(2): resolves to the number of messages sent. */
  async sendmmsg(s: number, msgs: readonly Mmsghdr[], flags = 0): Promise<number> {
    const kmsgs = msgs.map((m) => ({ buf: m.buf, to: m.to === undefined ? null : this.sa(m.to, 'sendmmsg') }));
    return (await this.call(SYS_sendmmsg, 'sendmmsg', { s, msgs: kmsgs, flags })).rv0;
  }

  /**
   * recvmmsg(2) into msgs (n, from and flags filled in); resolves to the
   * number received.  MSG_WAITFORONE blocks for the first message only.
   * Pass wantFrom false to skip decoding senders.
   */
  async recvmmsg(s: number, msgs: RecvMmsghdr[], flags = 0, wantFrom = true): Promise<number> {
    const kmsgs = msgs.map((m) => ({ buf: m.buf, n: 0, from: null as Uint8Array | null, flags: 0 }));
    const n = (await this.call(SYS_recvmmsg, 'recvmmsg', { s, msgs: kmsgs, flags })).rv0;
    for (let i = 0; i < n; i++) {
      const km = kmsgs[i]!;
      const m = msgs[i]!;
      m.n = km.n;
      m.flags = km.flags;
      m.from = wantFrom ? sockaddr_to_user(km.from) : null;
    }
    return n;
  }

  async shutdown(s: number, how: number): Promise<void> {
    await this.call(SYS_shutdown, 'shutdown', { s, how });
  }

  /** setsockopt(2): value is a number (or boolean), Linger or Timeval, as the option wants. */
  async setsockopt(s: number, level: number, name: number, value: unknown): Promise<void> {
    await this.call(SYS_setsockopt, 'setsockopt', { s, level, name, value });
  }

  async getsockopt(s: number, level: number, name: number): Promise<unknown> {
    return (await this.call(SYS_getsockopt, 'getsockopt', { s, level, name })).value;
  }

  async getsockname(s: number): Promise<Sockaddr | null> {
    return sockaddr_to_user((await this.call(SYS_getsockname, 'getsockname', { s })).value as Uint8Array | null);
  }

  async getpeername(s: number): Promise<Sockaddr | null> {
    return sockaddr_to_user((await this.call(SYS_getpeername, 'getpeername', { s })).value as Uint8Array | null);
  }

  /** reboot(2): halts the kernel; resolves once it is down. */
  async reboot(howto = 0): Promise<void> {
    await this.call(SYS_reboot, 'reboot', { howto });
    await this.k.halt();
  }
}
