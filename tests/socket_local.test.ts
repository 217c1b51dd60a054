/*
 * The socket layer (librump/rumpnet) exercised through the local domain
 * (net/lib/liblocal) and the syscall surface: naming, connection setup and
 * the listen queue, blocking and non-blocking calls, poll readiness,
 * timeouts in virtual time, socket options, shutdown and close semantics,
 * datagram and seqpacket boundaries, upcalls, and that closing everything
 * leaves no socket and no mbuf behind.
 */

import { describe, it, expect, vi } from 'vitest';
import { simWorld, bootSim } from './kernel.ts';
import { kernel_run, rump_lwproc_rfork, rump_proc_exit, RUMP_RFCFDG, type Kernel } from '../librump/rumpkern/rump.ts';
import { Retval, rump_syscall } from '../librump/rumpkern/rump_syscalls.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { net_of } from '../librump/rumpnet/net.ts';
import { m_outstanding } from '../librump/rumpnet/uipc_mbuf.ts';
import { soupcall_clear, soupcall_set } from '../librump/rumpnet/uipc_socket2.ts';
import { POLL_IN, POLL_OUT, type Socket } from '../librump/rumpnet/socketvar.ts';
import { solock, sounlock } from '../librump/rumpnet/sys_socket.ts';
import { Domain, PR_ATOMIC, type Protosw } from '../librump/rumpnet/uipc_domain.ts';
import { rumplocal_component } from '../net/lib/liblocal/local_component.ts';
import { PIPSIZ, UNPDG_RECVSPACE, UNPDG_SENDSPACE, unp_usrreqs } from '../net/lib/liblocal/uipc_usrreq.ts';
import { SyscallError } from '../include/errno.ts';
import {
  AF_INET, AF_LOCAL, MSG_DONTWAIT, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, PF_INET, PF_LOCAL, SHUT_RD, SHUT_RDWR, SHUT_WR,
  SO_ACCEPTCONN, SO_ERROR, SO_LINGER, SO_OVERFLOWED, SO_RCVBUF, SO_RCVLOWAT, SO_RCVTIMEO, SO_REUSEADDR, SO_SNDBUF,
  SO_SNDLOWAT, SO_SNDTIMEO, SO_TYPE, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM, SOL_SOCKET,
  type SockaddrUn,
} from '../include/socket.ts';
import {
  F_GETFL, F_SETFL, FIONREAD, O_NONBLOCK, POLLHUP, POLLIN, POLLOUT, S_IFSOCK, SYS_accept, type PollFd,
} from '../include/syscall.ts';

/* A broken wakeup shows as a test that waits forever: fail it well before vitest's minute. */
vi.setConfig({ testTimeout: 20_000 });

type World = ReturnType<typeof simWorld>;

const enc = new TextEncoder();
const dec = new TextDecoder();

async function boot(): Promise<{ w: World; k: Kernel }> {
  const w = simWorld({ seed: 1 });
  const k = await bootSim(w, { components: [rumpnet_component, rumplocal_component] });
  return { w, k };
}

function sun(path: string): SockaddrUn {
  return { sun_family: AF_LOCAL, sun_path: path };
}

/** The errno name a syscall promise fails with, or 'ok'. */
async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof SyscallError) return e.code;
    throw e;
  }
}

function pfd(fd: number, events: number): PollFd {
  return { fd, events, revents: 0 };
}

/** Poll one descriptor without waiting; its revents. */
async function revents(k: Kernel, fd: number, events = POLLIN | POLLOUT): Promise<number> {
  const fds = [pfd(fd, events)];
  await k.sys.poll(fds, 0);
  return fds[0]!.revents;
}

/** Track whether a promise has settled, its value, and the virtual time it did. */
interface Tracked<T> { done: boolean; value?: T; error?: unknown; at: number; p: Promise<void> }
function track<T>(w: World, p: Promise<T>): Tracked<T> {
  const st: Tracked<T> = { done: false, at: -1, p: Promise.resolve() };
  st.p = p.then(
    (v) => { st.done = true; st.value = v; st.at = w.nowMs(); },
    (e: unknown) => { st.done = true; st.error = e; st.at = w.nowMs(); },
  );
  return st;
}

/** Let every runnable LWP run until it blocks (a syscall queued behind them all on the one CPU). */
async function settle(k: Kernel): Promise<void> {
  await k.sys.getpid();
  await k.sys.getpid();
}

async function readStr(k: Kernel, fd: number, n = 256): Promise<string> {
  const b = new Uint8Array(n);
  const got = await k.sys.read(fd, b);
  return dec.decode(b.subarray(0, got));
}

/** The Socket object behind a descriptor of init (for upcalls and white-box checks). */
function sockof(k: Kernel, fd: number): Socket {
  const fp = k.initproc.p_fd!.fd_ofiles[fd];
  if (fp === null || fp === undefined) throw new Error(`fd ${fd} is not open`);
  return fp.f_data as Socket;
}

/** Close fds, then check that no socket and no mbuf is left. */
async function closeAndCheck(k: Kernel, fds: number[]): Promise<void> {
  for (const fd of fds) await k.sys.close(fd);
  const net = net_of(k);
  expect(net.nsockets).toBe(0);
  expect(m_outstanding(net.mb)).toEqual({ mbufs: 0, clusters: 0 });
  expect(k.local!.unp_names.size).toBe(0);
}

/** A listener on path and a connected pair (client, accepted). */
async function connectedPair(k: Kernel, path: string, type = SOCK_STREAM): Promise<{ s: number; c: number; a: number }> {
  const s = await k.sys.socket(PF_LOCAL, type);
  await k.sys.bind(s, sun(path));
  await k.sys.listen(s, 5);
  const c = await k.sys.socket(PF_LOCAL, type);
  await k.sys.connect(c, sun(path));
  const { fd: a } = await k.sys.accept(s);
  return { s, c, a };
}

/* ------------------------------------------------------------------------ */

describe('names: bind, listen, connect, accept', () => {
  it('a client connects by name; both ends know the names; data flows both ways', async () => {
    const { k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, sun('/var/run/srv'));
    await k.sys.listen(s, 5);
    expect(await k.sys.getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN)).toBe(1);
    expect(await k.sys.getsockname(s)).toEqual(sun('/var/run/srv'));

    /* An unnamed client. */
    const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    expect(await k.sys.getsockname(c)).toEqual(sun(''));
    expect(await code(k.sys.getpeername(c))).toBe('ENOTCONN');
    await k.sys.connect(c, sun('/var/run/srv'));
    const { fd: a, addr } = await k.sys.accept(s);
    expect(addr).toEqual(sun(''));
    expect(await k.sys.getpeername(c)).toEqual(sun('/var/run/srv'));
    expect(await k.sys.getsockname(a)).toEqual(sun('/var/run/srv'));
    expect(await k.sys.getpeername(a)).toEqual(sun(''));
    expect(await k.sys.getsockopt(a, SOL_SOCKET, SO_ACCEPTCONN)).toBe(0);

    /* A named client: accept reports its name. */
    const c2 = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(c2, sun('client-2'));
    await k.sys.connect(c2, sun('/var/run/srv'));
    const r2 = await k.sys.accept(s);
    expect(r2.addr).toEqual(sun('client-2'));
    expect(await k.sys.getpeername(r2.fd)).toEqual(sun('client-2'));

    expect(await k.sys.write(c, 'ping')).toBe(4);
    expect(await readStr(k, a)).toBe('ping');
    expect(await k.sys.send(a, 'pong')).toBe(4);
    expect(await k.sys.recv(c, new Uint8Array(10))).toBe(4);
    await k.sys.write(c2, 'two');
    expect(await readStr(k, r2.fd)).toBe('two');

    const st = await k.sys.fstat(a);
    expect(st.st_mode & 0o170000).toBe(S_IFSOCK);
    expect(st.st_blksize).toBe(PIPSIZ);
    await closeAndCheck(k, [c, a, c2, r2.fd, s]);
  });

  it('a name in use is EADDRINUSE until its socket closes; a socket binds once', async () => {
    const { k } = await boot();
    const s1 = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s1, sun('/tmp/x'));
    expect(await code(k.sys.bind(s1, sun('/tmp/y')))).toBe('EINVAL');
    const s2 = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    expect(await code(k.sys.bind(s2, sun('/tmp/x')))).toBe('EADDRINUSE');
    /* SO_REUSEADDR does not share a local name. */
    await k.sys.setsockopt(s2, SOL_SOCKET, SO_REUSEADDR, 1);
    expect(await code(k.sys.bind(s2, sun('/tmp/x')))).toBe('EADDRINUSE');
    await k.sys.close(s1);
    await k.sys.bind(s2, sun('/tmp/x'));
    expect(await k.sys.getsockname(s2)).toEqual(sun('/tmp/x'));
    await closeAndCheck(k, [s2]);
  });

  it('two processes talk through a name; the client process exiting closes its end', async () => {
    const { k } = await boot();
    const srv = rump_lwproc_rfork(k, RUMP_RFCFDG, 'server');
    const cli = rump_lwproc_rfork(k, RUMP_RFCFDG, 'client');
    const s = await srv.sys.socket(PF_LOCAL, SOCK_STREAM);
    await srv.sys.bind(s, sun('/run/svc'));
    await srv.sys.listen(s, 1);
    const c = await cli.sys.socket(PF_LOCAL, SOCK_STREAM);
    await cli.sys.connect(c, sun('/run/svc'));
    const { fd: a } = await srv.sys.accept(s);
    await cli.sys.write(c, 'request');
    const b = new Uint8Array(16);
    expect(dec.decode(b.subarray(0, await srv.sys.read(a, b)))).toBe('request');
    await rump_proc_exit(k, cli.proc);
    expect(await srv.sys.read(a, b)).toBe(0);
    await rump_proc_exit(k, srv.proc);
    expect(net_of(k).nsockets).toBe(0);
    expect(k.local!.unp_names.size).toBe(0);
    expect(m_outstanding(net_of(k).mb)).toEqual({ mbufs: 0, clusters: 0 });
  });

  it('names are per kernel', async () => {
    const w = simWorld({ seed: 1 });
    const k1 = await bootSim(w, { components: [rumpnet_component, rumplocal_component], name: 'k1' });
    const k2 = await bootSim(w, { components: [rumpnet_component, rumplocal_component], name: 'k2' });
    const s1 = await k1.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k1.sys.bind(s1, sun('same'));
    await k1.sys.listen(s1, 1);
    const s2 = await k2.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k2.sys.bind(s2, sun('same'));
    const c = await k2.sys.socket(PF_LOCAL, SOCK_STREAM);
    /* k2's "same" does not listen; k1's is not visible from k2. */
    expect(await code(k2.sys.connect(c, sun('same')))).toBe('ECONNREFUSED');
    await closeAndCheck(k1, [s1]);
    await closeAndCheck(k2, [s2, c]);
  });

  it('connect: ENOENT for a missing name, ECONNREFUSED if not listening, EPROTOTYPE for another type', async () => {
    const { k } = await boot();
    const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    expect(await code(k.sys.connect(c, sun('/nowhere')))).toBe('ENOENT');
    expect(await code(k.sys.connect(c, sun('')))).toBe('ENOENT');
    const b = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(b, sun('bound'));
    expect(await code(k.sys.connect(c, sun('bound')))).toBe('ECONNREFUSED');
    const d = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.bind(d, sun('dgram'));
    expect(await code(k.sys.connect(c, sun('dgram')))).toBe('EPROTOTYPE');
    const q = await k.sys.socket(PF_LOCAL, SOCK_SEQPACKET);
    await k.sys.bind(q, sun('seq'));
    await k.sys.listen(q, 1);
    expect(await code(k.sys.connect(c, sun('seq')))).toBe('EPROTOTYPE');
    /* An AF_INET address on a local socket. */
    expect(await code(k.sys.connect(c, { sin_family: AF_INET, sin_port: 80, sin_addr: '127.0.0.1' }))).toBe('EAFNOSUPPORT');
    expect(await code(k.sys.bind(c, { sin_family: AF_INET, sin_port: 80, sin_addr: '127.0.0.1' }))).toBe('EAFNOSUPPORT');
    /* The failures left c unconnected and usable. */
    expect(await code(k.sys.write(c, 'x'))).toBe('ENOTCONN');
    /* listen needs a name, and a connection-oriented type. */
    expect(await code(k.sys.listen(c, 1))).toBe('EINVAL');
    expect(await code(k.sys.listen(d, 1))).toBe('EOPNOTSUPP');
    await closeAndCheck(k, [c, b, d, q]);
  });

  it('listen backlog: a full queue refuses, accept makes room, kern.somaxconn caps the backlog', async () => {
    const { k } = await boot();
    /* NetBSD's sonewconn admits while queued <= 3 * qlimit / 2: backlog 2 takes 4. */
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, sun('q'));
    await k.sys.listen(s, 2);
    const clients: number[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
      await k.sys.connect(c, sun('q'));
      clients.push(c);
    }
    const extra = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    expect(await code(k.sys.connect(extra, sun('q')))).toBe('ECONNREFUSED');
    const { fd: a1 } = await k.sys.accept(s);
    await k.sys.connect(extra, sun('q'));
    clients.push(extra);
    const accepted = [a1];
    for (let i = 0; i < 4; i++) accepted.push((await k.sys.accept(s)).fd);
    await k.sys.fcntl(s, F_SETFL, O_NONBLOCK);
    expect(await code(k.sys.accept(s))).toBe('EAGAIN');

    /* kern.somaxconn = 3 caps listen(100) to 3, which admits 4 (3 * 3 / 2 = 4). */
    expect(await k.sys.sysctl('kern.somaxconn')).toBe(128);
    await k.sys.sysctl('kern.somaxconn', 3);
    const s2 = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s2, sun('q2'));
    await k.sys.listen(s2, 100);
    expect(sockof(k, s2).so_qlimit).toBe(3);
    let ok = 0;
    for (;;) {
      const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
      clients.push(c);
      if ((await code(k.sys.connect(c, sun('q2')))) !== 'ok') break;
      ok++;
    }
    expect(ok).toBe(5);
    await closeAndCheck(k, [...clients, ...accepted, s, s2]);
  });

  it('accept blocks until a client connects; a non-blocking listener gives EAGAIN', async () => {
    const { w, k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, sun('acc'));
    await k.sys.listen(s, 5);
    const t = track(w, k.sys.accept(s));
    await settle(k);
    expect(t.done).toBe(false);
    const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.connect(c, sun('acc'));
    await t.p;
    expect(t.value!.addr).toEqual(sun(''));
    const a = t.value!.fd;

    await k.sys.fcntl(s, F_SETFL, O_NONBLOCK);
    expect(await code(k.sys.accept(s))).toBe('EAGAIN');
    await k.sys.fcntl(s, F_SETFL, 0);
    const ns = await k.sys.socket(PF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK);
    expect((await k.sys.fcntl(ns, F_GETFL)) & O_NONBLOCK).toBe(O_NONBLOCK);
    await k.sys.bind(ns, sun('acc2'));
    await k.sys.listen(ns, 5);
    expect(await code(k.sys.accept(ns))).toBe('EAGAIN');
    /* The accepted socket is blocking unless paccept asks otherwise (as its descriptor says). */
    const c2 = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.connect(c2, sun('acc2'));
    const { fd: a2 } = await k.sys.accept(ns);
    expect((await k.sys.fcntl(a2, F_GETFL)) & O_NONBLOCK).toBe(0);
    const r = track(w, k.sys.read(a2, new Uint8Array(8)));
    await settle(k);
    expect(r.done).toBe(false);
    await k.sys.write(c2, 'late');
    await r.p;
    expect(r.value).toBe(4);
    /* accept(2) itself (not paccept) gives the new descriptor the listener's O_NONBLOCK, as NetBSD. */
    const c3 = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.connect(c3, sun('acc2'));
    const rv = new Retval();
    await rump_syscall(k, k.initproc, SYS_accept, 'accept', { s: ns }, rv);
    const a3 = rv.rv0;
    expect((await k.sys.fcntl(a3, F_GETFL)) & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(await code(k.sys.read(a3, new Uint8Array(8)))).toBe('EAGAIN');
    await closeAndCheck(k, [c, a, s, ns, c2, a2, c3, a3]);
  });

  it('a local stream connect completes at once, even non-blocking (no EINPROGRESS); a second one is EISCONN', async () => {
    const { k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, sun('nb'));
    await k.sys.listen(s, 5);
    const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK);
    await k.sys.connect(c, sun('nb'));
    expect(await k.sys.getpeername(c)).toEqual(sun('nb'));
    expect(await k.sys.getsockopt(c, SOL_SOCKET, SO_ERROR)).toBe(0);
    expect(await revents(k, c, POLLOUT)).toBe(POLLOUT);
    expect(await code(k.sys.connect(c, sun('nb')))).toBe('EISCONN');
    /* A listener cannot connect. */
    const c2 = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    expect(await code(k.sys.connect(s, sun('nb')))).toBe('EOPNOTSUPP');
    const { fd: a } = await k.sys.accept(s);
    await closeAndCheck(k, [c, c2, a, s]);
  });

  it('poll: a listener is readable while a connection waits to be accepted', async () => {
    const { w, k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, sun('pl'));
    await k.sys.listen(s, 5);
    expect(await revents(k, s, POLLIN)).toBe(0);
    const fds = [pfd(s, POLLIN)];
    const p = track(w, k.sys.poll(fds, -1));
    await settle(k);
    expect(p.done).toBe(false);
    const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.connect(c, sun('pl'));
    await p.p;
    expect(p.value).toBe(1);
    expect(fds[0]!.revents).toBe(POLLIN);
    const { fd: a } = await k.sys.accept(s);
    expect(await revents(k, s, POLLIN)).toBe(0);
    await closeAndCheck(k, [c, a, s]);
  });

  it('closing a listener aborts the connections it never accepted: their clients see EOF and EPIPE', async () => {
    const { k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, sun('gone'));
    await k.sys.listen(s, 5);
    const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.connect(c, sun('gone'));
    await k.sys.write(c, 'unread');
    expect(net_of(k).nsockets).toBe(3);
    await k.sys.close(s);
    expect(net_of(k).nsockets).toBe(1);
    expect(await k.sys.read(c, new Uint8Array(8))).toBe(0);
    expect(await code(k.sys.write(c, 'x'))).toBe('EPIPE');
    expect(await revents(k, c, POLLIN)).toBe(POLLIN | POLLHUP);
    /* The name went with the listener. */
    const c2 = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    expect(await code(k.sys.connect(c2, sun('gone')))).toBe('ENOENT');
    await closeAndCheck(k, [c, c2]);
  });

  it('closing a descriptor another call sleeps on ends that call: accept ECONNABORTED, read EOF', async () => {
    const { w, k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, sun('closing'));
    await k.sys.listen(s, 5);
    const acc = track(w, k.sys.accept(s));
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    const rd = track(w, k.sys.read(x, new Uint8Array(8)));
    await settle(k);
    expect([acc.done, rd.done]).toEqual([false, false]);
    await k.sys.close(s);
    await k.sys.close(x);
    await Promise.all([acc.p, rd.p]);
    expect((acc.error as SyscallError).code).toBe('ECONNABORTED');
    expect(rd.value).toBe(0);
    await closeAndCheck(k, [y]);
  });

  it('a client that closes before accept still leaves its data and EOF to the server', async () => {
    const { k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(s, sun('early'));
    await k.sys.listen(s, 5);
    const c = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(c, sun('early-client'));
    await k.sys.connect(c, sun('early'));
    await k.sys.write(c, 'bye');
    await k.sys.close(c);
    const { fd: a, addr } = await k.sys.accept(s);
    /* The peer is gone: its name is no longer known. */
    expect(addr).toEqual(sun(''));
    expect(await readStr(k, a)).toBe('bye');
    expect(await k.sys.read(a, new Uint8Array(8))).toBe(0);
    expect(await code(k.sys.write(a, 'x'))).toBe('EPIPE');
    await closeAndCheck(k, [a, s]);
  });
});

/* ------------------------------------------------------------------------ */

describe('stream data', () => {
  it('a read returns what is there; EAGAIN when empty and non-blocking; a blocking read waits', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await k.sys.write(x, 'hello ');
    await k.sys.write(x, 'world');
    expect(await k.sys.ioctl(y, FIONREAD)).toBe(11);
    expect(await readStr(k, y, 100)).toBe('hello world');
    expect(await code(k.sys.recv(y, new Uint8Array(4), MSG_DONTWAIT))).toBe('EAGAIN');
    await k.sys.ioctl(y, 0x8004667e /* FIONBIO */, 1);
    expect(await code(k.sys.read(y, new Uint8Array(4)))).toBe('EAGAIN');
    await k.sys.ioctl(y, 0x8004667e, 0);
    const r = track(w, readStr(k, y));
    await settle(k);
    expect(r.done).toBe(false);
    await k.sys.write(x, 'wake');
    await r.p;
    expect(r.value).toBe('wake');
    /* A zero-length read does not block. */
    expect(await k.sys.read(y, new Uint8Array(0))).toBe(0);
    await closeAndCheck(k, [x, y]);
  });

  it('MSG_PEEK leaves the data; MSG_WAITALL waits for all of it', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await k.sys.write(x, 'abcdef');
    const b = new Uint8Array(4);
    expect(await k.sys.recv(y, b, MSG_PEEK)).toBe(4);
    expect(dec.decode(b)).toBe('abcd');
    expect(await k.sys.ioctl(y, FIONREAD)).toBe(6);
    const all = new Uint8Array(10);
    const r = track(w, k.sys.recv(y, all, MSG_WAITALL));
    await settle(k);
    expect(r.done).toBe(false);
    await k.sys.write(x, 'ghi');
    await settle(k);
    expect(r.done).toBe(false);
    await k.sys.write(x, 'jXYZ');
    await r.p;
    expect(r.value).toBe(10);
    expect(dec.decode(all)).toBe('abcdefghij');
    expect(await readStr(k, y)).toBe('XYZ');
    await closeAndCheck(k, [x, y]);
  });

  it('flow control: the sender\'s limits mirror the room left in the receiver', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK);
    expect(await k.sys.getsockopt(x, SOL_SOCKET, SO_SNDBUF)).toBe(PIPSIZ);
    await k.sys.write(x, new Uint8Array(1000));
    /* NetBSD's accounting: the 1000 bytes queued at y came off x's send high-water mark. */
    expect(await k.sys.getsockopt(x, SOL_SOCKET, SO_SNDBUF)).toBe(PIPSIZ - 1000);
    let total = 1000;
    for (;;) {
      const e = await code(k.sys.write(x, new Uint8Array(1000)).then((n) => { total += n; }));
      if (e !== 'ok') {
        expect(e).toBe('EAGAIN');
        break;
      }
    }
    expect(total).toBeLessThanOrEqual(PIPSIZ);
    expect(total).toBeGreaterThan(PIPSIZ - 1000);
    expect(await k.sys.ioctl(y, FIONREAD)).toBe(total);
    /* Not writable now: less room than the send low-water mark. */
    expect(await revents(k, x, POLLOUT)).toBe(0);
    const fds = [pfd(x, POLLOUT)];
    const p = track(w, k.sys.poll(fds, -1));
    await settle(k);
    expect(p.done).toBe(false);
    /* Reading gives the room back (pr_rcvd) and wakes the poller. */
    const got = new Uint8Array(PIPSIZ);
    expect(await k.sys.read(y, got)).toBe(total);
    await p.p;
    expect(fds[0]!.revents).toBe(POLLOUT);
    expect(await k.sys.getsockopt(x, SOL_SOCKET, SO_SNDBUF)).toBe(PIPSIZ);
    await closeAndCheck(k, [x, y]);
  });

  it('a writer blocked on a full peer finishes as the reader drains', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    const data = new Uint8Array(20000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const wr = track(w, k.sys.write(x, data));
    await settle(k);
    expect(wr.done).toBe(false);
    const got = new Uint8Array(data.length);
    let n = 0;
    while (n < data.length) {
      const m = await k.sys.read(y, got.subarray(n, Math.min(n + 3000, data.length)));
      expect(m).toBeGreaterThan(0);
      n += m;
    }
    await wr.p;
    expect(wr.value).toBe(data.length);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    await closeAndCheck(k, [x, y]);
  });

  it('poll: POLLIN with data, POLLOUT with room, POLLHUP once the peer has closed', async () => {
    const { k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    expect(await revents(k, x)).toBe(POLLOUT);
    await k.sys.write(y, 'd');
    expect(await revents(k, x)).toBe(POLLIN | POLLOUT);
    await k.sys.close(y);
    /* Readable (data, then EOF), writable (to report EPIPE), and hung up. */
    expect(await revents(k, x)).toBe(POLLIN | POLLOUT | POLLHUP);
    expect(await readStr(k, x)).toBe('d');
    expect(await k.sys.read(x, new Uint8Array(4))).toBe(0);
    await closeAndCheck(k, [x]);
  });

  it('EPIPE after the peer closes, for writers already blocked too; what was sent first is still read', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await k.sys.write(y, 'last words');
    const wr = track(w, k.sys.write(x, new Uint8Array(3 * PIPSIZ)));
    await settle(k);
    expect(wr.done).toBe(false);
    await k.sys.close(y);
    await wr.p;
    expect(wr.error).toBeInstanceOf(SyscallError);
    expect((wr.error as SyscallError).code).toBe('EPIPE');
    expect(await code(k.sys.write(x, 'more'))).toBe('EPIPE');
    expect(await readStr(k, x)).toBe('last words');
    expect(await k.sys.read(x, new Uint8Array(4))).toBe(0);
    expect(await code(k.sys.getpeername(x))).toBe('ENOTCONN');
    await closeAndCheck(k, [x]);
  });

  it('shutdown(SHUT_WR): the peer reads the rest then EOF; our writes fail, our reads still work', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    const r = track(w, k.sys.read(y, new Uint8Array(16)).then(async (n1) => [n1, await k.sys.read(y, new Uint8Array(16))]));
    await settle(k);
    await k.sys.write(x, 'tail');
    await k.sys.shutdown(x, SHUT_WR);
    await r.p;
    expect(r.value).toEqual([4, 0]);
    expect(await code(k.sys.write(x, 'no'))).toBe('EPIPE');
    /* Half closed: the other direction still works. */
    await k.sys.write(y, 'reply');
    expect(await readStr(k, x)).toBe('reply');
    expect(await revents(k, y, POLLIN)).toBe(POLLIN);
    await k.sys.shutdown(y, SHUT_WR);
    expect(await k.sys.read(x, new Uint8Array(4))).toBe(0);
    expect(await revents(k, x, POLLIN)).toBe(POLLIN | POLLHUP);
    expect(await code(k.sys.shutdown(x, 7))).toBe('EINVAL');
    await closeAndCheck(k, [x, y]);
  });

  it('shutdown(SHUT_RD): queued data is discarded and reads return EOF, also after the peer writes more', async () => {
    const { k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await k.sys.write(x, 'dropped');
    await k.sys.shutdown(y, SHUT_RD);
    expect(await k.sys.ioctl(y, FIONREAD)).toBe(0);
    expect(await k.sys.read(y, new Uint8Array(8))).toBe(0);
    expect(await k.sys.write(x, 'after')).toBe(5);
    expect(await k.sys.read(y, new Uint8Array(8))).toBe(0);
    /* y can still write. */
    await k.sys.write(y, 'up');
    expect(await readStr(k, x)).toBe('up');
    await k.sys.shutdown(y, SHUT_RDWR);
    expect(await k.sys.read(x, new Uint8Array(8))).toBe(0);
    await closeAndCheck(k, [x, y]);
  });

  it('shutdown(SHUT_RD) credits the flushed bytes back: a writer blocked on the full buffer goes on', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    /* Should the writer stay stuck, it gives up after 10 s of virtual time: the test fails, not hangs. */
    await k.sys.setsockopt(x, SOL_SOCKET, SO_SNDTIMEO, { tv_sec: 10, tv_usec: 0 });
    const t0 = w.nowMs();
    const wr = track(w, k.sys.write(x, new Uint8Array(5 * PIPSIZ)));
    await settle(k);
    expect(wr.done).toBe(false);
    expect(await k.sys.ioctl(y, FIONREAD)).toBeGreaterThan(PIPSIZ / 2);
    await k.sys.shutdown(y, SHUT_RD);
    await wr.p;
    expect(wr.value).toBe(5 * PIPSIZ);
    expect(wr.at).toBe(t0);
    expect(await k.sys.getsockopt(x, SOL_SOCKET, SO_SNDBUF)).toBe(PIPSIZ);
    expect(await revents(k, x, POLLOUT)).toBe(POLLOUT);
    expect(await k.sys.read(y, new Uint8Array(8))).toBe(0);
    await closeAndCheck(k, [x, y]);
  });

  it('an unconnected stream socket: ENOTCONN for write, read and shutdown', async () => {
    const { k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    expect(await code(k.sys.write(s, 'x'))).toBe('ENOTCONN');
    expect(await code(k.sys.read(s, new Uint8Array(1)))).toBe('ENOTCONN');
    expect(await code(k.sys.shutdown(s, SHUT_WR))).toBe('ENOTCONN');
    expect(await code(k.sys.sendto(s, 'x', 0, sun('any')))).toBe('ENOTCONN');
    await closeAndCheck(k, [s]);
  });

  it('SO_RCVTIMEO: a read fails with EAGAIN after exactly the timeout in virtual time', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await k.sys.setsockopt(y, SOL_SOCKET, SO_RCVTIMEO, { tv_sec: 1, tv_usec: 500000 });
    expect(await k.sys.getsockopt(y, SOL_SOCKET, SO_RCVTIMEO)).toEqual({ tv_sec: 1, tv_usec: 500000 });
    const t0 = w.nowMs();
    expect(await code(k.sys.read(y, new Uint8Array(4)))).toBe('EAGAIN');
    expect(w.nowMs() - t0).toBe(1500);
    /* Data before the timeout ends the wait then. */
    const t1 = w.nowMs();
    const r = track(w, readStr(k, y));
    await w.advance(700);
    expect(r.done).toBe(false);
    await k.sys.write(x, 'in time');
    await r.p;
    expect(r.value).toBe('in time');
    expect(r.at - t1).toBe(700);
    /* Zero turns the timeout off again. */
    await k.sys.setsockopt(y, SOL_SOCKET, SO_RCVTIMEO, { tv_sec: 0, tv_usec: 0 });
    const r2 = track(w, readStr(k, y));
    await w.advance(60_000);
    expect(r2.done).toBe(false);
    await k.sys.write(x, 'z');
    await r2.p;
    expect(r2.value).toBe('z');
    await closeAndCheck(k, [x, y]);
  });

  it('MSG_WAITALL with SO_RCVTIMEO: EAGAIN if nothing came (the data stays), else what it has', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await k.sys.setsockopt(y, SOL_SOCKET, SO_RCVTIMEO, { tv_sec: 2, tv_usec: 0 });
    const b = new Uint8Array(100);
    /* As NetBSD: the wait for all of it comes before any copy, so a timeout there copies nothing. */
    await k.sys.write(x, 'pa');
    const t0 = w.nowMs();
    expect(await code(k.sys.recv(y, b, MSG_WAITALL))).toBe('EAGAIN');
    expect(w.nowMs() - t0).toBe(2000);
    expect(await k.sys.ioctl(y, FIONREAD)).toBe(2);
    /*
     * A request larger than the buffer cannot wait for all of it up front:
     * it copies as data comes and waits, a full timeout each time, for the
     * rest; the timeout ends it with what it has.
     */
    const big = new Uint8Array(PIPSIZ + 1);
    const t1 = w.nowMs();
    const r = track(w, k.sys.recv(y, big, MSG_WAITALL));
    await w.advance(500);
    expect(r.done).toBe(false);
    await k.sys.write(x, 'rt');
    await r.p;
    expect(r.value).toBe(4);
    expect(r.at - t1).toBe(2500);
    expect(dec.decode(big.subarray(0, 4))).toBe('part');
    await closeAndCheck(k, [x, y]);
  });

  it('SO_LINGER: closing a connected local stream does not wait, the disconnect is immediate', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await k.sys.setsockopt(x, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 30 });
    await k.sys.write(x, 'unread by anyone yet');
    const t0 = w.nowMs();
    await k.sys.close(x);
    expect(w.nowMs()).toBe(t0);
    expect(await readStr(k, y)).toBe('unread by anyone yet');
    expect(await k.sys.read(y, new Uint8Array(4))).toBe(0);
    await closeAndCheck(k, [y]);
  });

  it('SO_SNDTIMEO: a writer on a full peer fails after the timeout with what it sent counted', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await k.sys.setsockopt(x, SOL_SOCKET, SO_SNDTIMEO, { tv_sec: 0, tv_usec: 250000 });
    const t0 = w.nowMs();
    /* A partial write that times out returns the count (as NetBSD: EWOULDBLOCK with progress is success). */
    const n = await k.sys.write(x, new Uint8Array(3 * PIPSIZ));
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(PIPSIZ);
    expect(w.nowMs() - t0).toBe(250);
    const t1 = w.nowMs();
    expect(await code(k.sys.write(x, new Uint8Array(PIPSIZ)))).toBe('EAGAIN');
    expect(w.nowMs() - t1).toBe(250);
    expect(await k.sys.ioctl(y, FIONREAD)).toBe(n);
    await closeAndCheck(k, [x, y]);
  });

  it('SO_RCVLOWAT: reads and poll wait for the low-water mark', async () => {
    const { w, k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await k.sys.setsockopt(y, SOL_SOCKET, SO_RCVLOWAT, 10);
    expect(await k.sys.getsockopt(y, SOL_SOCKET, SO_RCVLOWAT)).toBe(10);
    await k.sys.write(x, '12345');
    expect(await revents(k, y, POLLIN)).toBe(0);
    /* As NetBSD: below the mark a non-blocking read has nothing to return, as poll said. */
    await k.sys.fcntl(y, F_SETFL, O_NONBLOCK);
    expect(await code(k.sys.read(y, new Uint8Array(64)))).toBe('EAGAIN');
    await k.sys.fcntl(y, F_SETFL, 0);
    const r = track(w, readStr(k, y, 64));
    await settle(k);
    expect(r.done).toBe(false);
    await k.sys.write(x, '6789');
    await settle(k);
    expect(r.done).toBe(false);
    await k.sys.write(x, '0');
    await r.p;
    expect(r.value).toBe('1234567890');
    /* A read for less than the mark is satisfied by what it asked for. */
    await k.sys.write(x, 'abc');
    expect(await readStr(k, y, 2)).toBe('ab');
    /* EOF ends a low-water wait. */
    const r2 = track(w, readStr(k, y, 64));
    await settle(k);
    expect(r2.done).toBe(false);
    await k.sys.close(x);
    await r2.p;
    expect(r2.value).toBe('c');
    await closeAndCheck(k, [y]);
  });
});

/* ------------------------------------------------------------------------ */

describe('socket options', () => {
  it('get and set: buffer sizes, low-water marks, linger, type, error, reuseaddr', async () => {
    const { k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    const d = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    const q = await k.sys.socket(PF_LOCAL, SOCK_SEQPACKET);
    const get = (fd: number, o: number): Promise<unknown> => k.sys.getsockopt(fd, SOL_SOCKET, o);
    const set = (fd: number, o: number, v: unknown): Promise<void> => k.sys.setsockopt(fd, SOL_SOCKET, o, v);
    expect(await get(s, SO_TYPE)).toBe(SOCK_STREAM);
    expect(await get(d, SO_TYPE)).toBe(SOCK_DGRAM);
    expect(await get(q, SO_TYPE)).toBe(SOCK_SEQPACKET);
    /* NetBSD's defaults: PIPSIZ for streams; 2 KB (the largest datagram) / 4 KB for datagrams. */
    expect([await get(s, SO_SNDBUF), await get(s, SO_RCVBUF)]).toEqual([PIPSIZ, PIPSIZ]);
    expect([await get(q, SO_SNDBUF), await get(q, SO_RCVBUF)]).toEqual([PIPSIZ, PIPSIZ]);
    expect([await get(d, SO_SNDBUF), await get(d, SO_RCVBUF)]).toEqual([UNPDG_SENDSPACE, UNPDG_RECVSPACE]);
    /* soreserve's low-water marks: 1 to receive, MCLBYTES (capped at the buffer) to send. */
    expect([await get(s, SO_RCVLOWAT), await get(s, SO_SNDLOWAT)]).toEqual([1, 2048]);
    await set(s, SO_SNDBUF, 16384);
    await set(s, SO_RCVBUF, 32768);
    expect([await get(s, SO_SNDBUF), await get(s, SO_RCVBUF)]).toEqual([16384, 32768]);
    await set(s, SO_SNDLOWAT, 100);
    expect(await get(s, SO_SNDLOWAT)).toBe(100);
    /* A low-water mark above the buffer is clipped to it. */
    await set(s, SO_RCVLOWAT, 1 << 20);
    expect(await get(s, SO_RCVLOWAT)).toBe(32768);
    expect(await get(s, SO_LINGER)).toEqual({ l_onoff: 0, l_linger: 0 });
    await set(s, SO_LINGER, { l_onoff: 1, l_linger: 5 });
    expect(await get(s, SO_LINGER)).toEqual({ l_onoff: 1, l_linger: 5 });
    expect(await get(s, SO_REUSEADDR)).toBe(0);
    await set(s, SO_REUSEADDR, 1);
    expect(await get(s, SO_REUSEADDR)).toBe(1);
    await set(s, SO_REUSEADDR, false);
    expect(await get(s, SO_REUSEADDR)).toBe(0);
    expect(await get(s, SO_ERROR)).toBe(0);
    expect(await get(s, SO_ACCEPTCONN)).toBe(0);
    await closeAndCheck(k, [s, d, q]);
  });

  it('bad values: EINVAL for sizes below 1 or values of the wrong shape, EDOM out of range, ENOBUFS past kern.sbmax', async () => {
    const { k } = await boot();
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    const set = (o: number, v: unknown, level = SOL_SOCKET): Promise<string> => code(k.sys.setsockopt(s, level, o, v));
    for (const o of [SO_SNDBUF, SO_RCVBUF, SO_SNDLOWAT, SO_RCVLOWAT]) {
      expect(await set(o, 0)).toBe('EINVAL');
      expect(await set(o, -5)).toBe('EINVAL');
      expect(await set(o, 1.5)).toBe('EINVAL');
      expect(await set(o, 'big')).toBe('EINVAL');
    }
    expect(await set(SO_SNDBUF, 64 << 20)).toBe('ENOBUFS');
    expect(await set(SO_RCVBUF, 64 << 20)).toBe('ENOBUFS');
    expect(await k.sys.getsockopt(s, SOL_SOCKET, SO_SNDBUF)).toBe(PIPSIZ);
    expect(await set(SO_LINGER, 5)).toBe('EINVAL');
    expect(await set(SO_LINGER, { l_onoff: 1, l_linger: -1 })).toBe('EDOM');
    expect(await set(SO_LINGER, { l_onoff: 1, l_linger: 0x10000 })).toBe('EDOM');
    expect(await set(SO_RCVTIMEO, 3)).toBe('EINVAL');
    expect(await set(SO_RCVTIMEO, { tv_sec: -1, tv_usec: 0 })).toBe('EDOM');
    expect(await set(SO_RCVTIMEO, { tv_sec: 0, tv_usec: 1000000 })).toBe('EDOM');
    expect(await set(SO_SNDTIMEO, { tv_sec: 0x7fffffff, tv_usec: 0 })).toBe('EDOM');
    expect(await set(SO_REUSEADDR, 'yes')).toBe('EINVAL');
    expect(await set(0x7777, 1)).toBe('ENOPROTOOPT');
    expect(await code(k.sys.getsockopt(s, SOL_SOCKET, 0x7777))).toBe('ENOPROTOOPT');
    /* The local level has nothing yet. */
    expect(await set(1, 1, 0)).toBe('ENOPROTOOPT');
    expect(await k.sys.getsockopt(s, SOL_SOCKET, SO_LINGER)).toEqual({ l_onoff: 0, l_linger: 0 });
    await closeAndCheck(k, [s]);
  });

  it('net.local.*: the default buffer sizes are sysctls that apply to new sockets', async () => {
    const { k } = await boot();
    expect(await k.sys.sysctl('net.local.stream.sendspace')).toBe(PIPSIZ);
    expect(await k.sys.sysctl('net.local.stream.recvspace')).toBe(PIPSIZ);
    expect(await k.sys.sysctl('net.local.dgram.sendspace')).toBe(UNPDG_SENDSPACE);
    expect(await k.sys.sysctl('net.local.dgram.recvspace')).toBe(UNPDG_RECVSPACE);
    const before = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.sysctl('net.local.stream.sendspace', 12000);
    await k.sys.sysctl('net.local.dgram.recvspace', 9000);
    const after = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    const dg = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    expect(await k.sys.getsockopt(before, SOL_SOCKET, SO_SNDBUF)).toBe(PIPSIZ);
    expect(await k.sys.getsockopt(after, SOL_SOCKET, SO_SNDBUF)).toBe(12000);
    expect(await k.sys.getsockopt(dg, SOL_SOCKET, SO_RCVBUF)).toBe(9000);
    expect(await code(k.sys.sysctl('net.local.stream.recvspace', 0))).toBe('EINVAL');
    /* Too large for kern.sbmax: the socket cannot be made. */
    await k.sys.sysctl('net.local.stream.recvspace', 64 << 20);
    expect(await code(k.sys.socket(PF_LOCAL, SOCK_STREAM))).toBe('ENOBUFS');
    expect(await code(k.sys.socketpair(PF_LOCAL, SOCK_STREAM))).toBe('ENOBUFS');
    /* The failed attaches are not counted as sockets, nor uncounted from the live ones. */
    expect(net_of(k).nsockets).toBe(3);
    await closeAndCheck(k, [before, after, dg]);
  });
});

/* ------------------------------------------------------------------------ */

describe('datagrams', () => {
  it('boundaries are kept and recvfrom names the sender (empty when unnamed)', async () => {
    const { k } = await boot();
    const srv = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.bind(srv, sun('/dg/srv'));
    const named = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.bind(named, sun('/dg/cli'));
    const anon = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    expect(await k.sys.sendto(named, 'one', 0, sun('/dg/srv'))).toBe(3);
    expect(await k.sys.sendto(anon, 'second', 0, sun('/dg/srv'))).toBe(6);
    expect(await k.sys.sendto(named, '', 0, sun('/dg/srv'))).toBe(0);
    expect(await k.sys.ioctl(srv, FIONREAD)).toBe(9);
    const b = new Uint8Array(64);
    let r = await k.sys.recvfrom(srv, b);
    expect([r.n, dec.decode(b.subarray(0, r.n)), r.from, r.flags & MSG_TRUNC]).toEqual([3, 'one', sun('/dg/cli'), 0]);
    r = await k.sys.recvfrom(srv, b);
    expect([r.n, dec.decode(b.subarray(0, r.n)), r.from]).toEqual([6, 'second', sun('')]);
    r = await k.sys.recvfrom(srv, b);
    expect([r.n, r.from]).toEqual([0, sun('/dg/cli')]);
    expect(await code(k.sys.recv(srv, b, MSG_DONTWAIT))).toBe('EAGAIN');
    /* Replying to the name recvfrom gave. */
    await k.sys.sendto(srv, 'ack', 0, sun('/dg/cli'));
    r = await k.sys.recvfrom(named, b);
    expect([dec.decode(b.subarray(0, r.n)), r.from]).toEqual(['ack', sun('/dg/srv')]);
    await closeAndCheck(k, [srv, named, anon]);
  });

  it('a short buffer gets MSG_TRUNC and the rest of that datagram is gone; MSG_PEEK leaves it', async () => {
    const { k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_DGRAM);
    await k.sys.send(x, 'abcdefghij');
    await k.sys.send(x, 'next');
    const b = new Uint8Array(4);
    let r = await k.sys.recvfrom(y, b, MSG_PEEK);
    expect([r.n, dec.decode(b), r.flags & MSG_TRUNC]).toEqual([4, 'abcd', MSG_TRUNC]);
    const big = new Uint8Array(32);
    r = await k.sys.recvfrom(y, big, MSG_PEEK);
    expect([r.n, r.flags & MSG_TRUNC]).toEqual([10, 0]);
    r = await k.sys.recvfrom(y, b);
    expect([r.n, dec.decode(b), r.flags & MSG_TRUNC]).toEqual([4, 'abcd', MSG_TRUNC]);
    r = await k.sys.recvfrom(y, big);
    expect([dec.decode(big.subarray(0, r.n)), r.flags & MSG_TRUNC]).toEqual(['next', 0]);
    await closeAndCheck(k, [x, y]);
  });

  it('sendmsg gathers and recvmsg scatters several iovecs, one datagram each', async () => {
    const { k } = await boot();
    const srv = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.bind(srv, sun('iov'));
    const c = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    expect(await k.sys.sendmsg(c, [enc.encode('head'), enc.encode(''), enc.encode('-body-'), enc.encode('tail')], sun('iov'))).toBe(14);
    await k.sys.sendmsg(c, [enc.encode('second')], sun('iov'));
    const v = [new Uint8Array(3), new Uint8Array(5), new Uint8Array(20)];
    const r = await k.sys.recvmsg(srv, v);
    expect(r.n).toBe(14);
    expect(r.from).toEqual(sun(''));
    expect(dec.decode(v[0])).toBe('hea');
    expect(dec.decode(v[1])).toBe('d-bod');
    expect(dec.decode(v[2]!.subarray(0, 6))).toBe('y-tail');
    const v2 = [new Uint8Array(2), new Uint8Array(2)];
    const r2 = await k.sys.recvmsg(srv, v2);
    expect([r2.n, dec.decode(v2[0]) + dec.decode(v2[1]), r2.flags & MSG_TRUNC]).toEqual([4, 'seco', MSG_TRUNC]);
    await closeAndCheck(k, [srv, c]);
  });

  it('limits: EMSGSIZE above the send space, ENOBUFS when the receiver is full (counted as overflow)', async () => {
    const { k } = await boot();
    const srv = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.bind(srv, sun('full'));
    const c = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    expect(await code(k.sys.sendto(c, new Uint8Array(UNPDG_SENDSPACE + 1), 0, sun('full')))).toBe('EMSGSIZE');
    const fill = async (size: number): Promise<number> => {
      let sent = 0;
      for (;;) {
        const e = await code(k.sys.sendto(c, new Uint8Array(size), 0, sun('full')));
        if (e !== 'ok') {
          expect(e).toBe('ENOBUFS');
          return sent;
        }
        sent++;
      }
    };
    /* 4 KB of receive space holds two 2000-byte datagrams with their 2-byte addresses. */
    expect(await fill(2000)).toBe(2);
    expect(await k.sys.getsockopt(srv, SOL_SOCKET, SO_OVERFLOWED)).toBe(1);
    /* Reading one makes room for one more. */
    expect(await k.sys.recv(srv, new Uint8Array(2100))).toBe(2000);
    expect(await k.sys.sendto(c, new Uint8Array(2000), 0, sun('full'))).toBe(2000);
    /* Small ones still fit until storage runs out: six of two 256-byte mbufs each. */
    expect(await fill(10)).toBe(6);
    while ((await code(k.sys.recv(srv, new Uint8Array(2100), MSG_DONTWAIT))) === 'ok');
    /*
     * Storage counts too (sb_mbmax, twice the byte limit): a 1000-byte
     * datagram takes a 2 KB cluster and two mbufs, so only three fit in
     * the 8 KB though their bytes would leave room for a fourth.
     */
    expect(await fill(1000)).toBe(3);
    expect(await k.sys.getsockopt(srv, SOL_SOCKET, SO_OVERFLOWED)).toBe(3);
    await closeAndCheck(k, [srv, c]);
  });

  it('connected datagram sockets: send without an address; EISCONN, EDESTADDRREQ, ENOENT, EPROTOTYPE; ECONNRESET when the target goes', async () => {
    const { w, k } = await boot();
    const srv = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.bind(srv, sun('t'));
    const c = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    expect(await code(k.sys.send(c, 'x'))).toBe('EDESTADDRREQ');
    expect(await code(k.sys.sendto(c, 'x', 0, sun('missing')))).toBe('ENOENT');
    const st = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.bind(st, sun('stream'));
    expect(await code(k.sys.sendto(c, 'x', 0, sun('stream')))).toBe('EPROTOTYPE');
    expect(await code(k.sys.connect(c, sun('missing')))).toBe('ENOENT');
    await k.sys.connect(c, sun('t'));
    expect(await k.sys.getpeername(c)).toEqual(sun('t'));
    await k.sys.send(c, 'via connect');
    expect(await code(k.sys.sendto(c, 'x', 0, sun('t')))).toBe('EISCONN');
    const b = new Uint8Array(32);
    const r = await k.sys.recvfrom(srv, b);
    expect(dec.decode(b.subarray(0, r.n))).toBe('via connect');
    /* Connecting again moves the default target. */
    const other = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.bind(other, sun('other'));
    await k.sys.connect(c, sun('other'));
    await k.sys.send(c, 'moved');
    expect(await readStr(k, other)).toBe('moved');
    /* The target closes: a blocked reader wakes with ECONNRESET, reported once; then unconnected. */
    const rd = track(w, k.sys.read(c, new Uint8Array(8)));
    await settle(k);
    expect(rd.done).toBe(false);
    await k.sys.close(other);
    await rd.p;
    expect((rd.error as SyscallError).code).toBe('ECONNRESET');
    expect(await code(k.sys.send(c, 'x'))).toBe('EDESTADDRREQ');
    expect(await code(k.sys.getpeername(c))).toBe('ENOTCONN');
    await k.sys.connect(c, sun('t'));
    await k.sys.close(srv);
    expect(await k.sys.getsockopt(c, SOL_SOCKET, SO_ERROR)).toBe(54 /* ECONNRESET */);
    expect(await k.sys.getsockopt(c, SOL_SOCKET, SO_ERROR)).toBe(0);
    /* shutdown(SHUT_WR) on a datagram socket stops sends. */
    const d = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.shutdown(d, SHUT_WR);
    expect(await code(k.sys.sendto(d, 'x', 0, sun('stream')))).toBe('EPIPE');
    await closeAndCheck(k, [c, st, d]);
  });

  it('a datagram socketpair is connected both ways', async () => {
    const { k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_DGRAM);
    await k.sys.send(x, 'to y');
    await k.sys.send(y, 'to x');
    expect(await readStr(k, y)).toBe('to y');
    expect(await readStr(k, x)).toBe('to x');
    expect(await k.sys.getpeername(x)).toEqual(sun(''));
    await closeAndCheck(k, [x, y]);
  });
});

/* ------------------------------------------------------------------------ */

describe('seqpacket', () => {
  it('records keep their boundaries, a short read truncates one, EOF after the peer closes', async () => {
    const { k } = await boot();
    const { s, c, a } = await connectedPair(k, 'sp', SOCK_SEQPACKET);
    await k.sys.write(c, 'first');
    await k.sys.write(c, 'second record');
    await k.sys.write(c, '3');
    const b = new Uint8Array(64);
    let r = await k.sys.recvfrom(a, b);
    expect([dec.decode(b.subarray(0, r.n)), r.flags & MSG_TRUNC]).toEqual(['first', 0]);
    const small = new Uint8Array(6);
    r = await k.sys.recvfrom(a, small);
    expect([dec.decode(small), r.flags & MSG_TRUNC]).toEqual(['second', MSG_TRUNC]);
    expect(await readStr(k, a)).toBe('3');
    await k.sys.write(a, 'back');
    expect(await readStr(k, c)).toBe('back');
    await k.sys.close(c);
    expect(await k.sys.read(a, b)).toBe(0);
    expect(await code(k.sys.write(a, 'x'))).toBe('EPIPE');
    await closeAndCheck(k, [a, s]);
  });

  it('a seqpacket socketpair; a message larger than the buffer is EMSGSIZE', async () => {
    const { k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_SEQPACKET);
    expect(await code(k.sys.write(x, new Uint8Array(PIPSIZ + 1)))).toBe('EMSGSIZE');
    expect(await k.sys.write(x, new Uint8Array(PIPSIZ))).toBe(PIPSIZ);
    expect(await k.sys.read(y, new Uint8Array(PIPSIZ + 100))).toBe(PIPSIZ);
    await closeAndCheck(k, [x, y]);
  });
});

/* ------------------------------------------------------------------------ */

describe('errors from socket(2) and the descriptor layer', () => {
  it('ENOTSOCK on a pipe, EBADF on a closed descriptor', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    expect(await code(k.sys.listen(r, 1))).toBe('ENOTSOCK');
    expect(await code(k.sys.getsockopt(wr, SOL_SOCKET, SO_TYPE))).toBe('ENOTSOCK');
    expect(await code(k.sys.recv(r, new Uint8Array(1)))).toBe('ENOTSOCK');
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
    await k.sys.close(s);
    expect(await code(k.sys.bind(s, sun('x')))).toBe('EBADF');
    expect(await code(k.sys.send(s, 'x'))).toBe('EBADF');
    expect(await code(k.sys.close(s))).toBe('EBADF');
    expect(await code(k.sys.getsockname(99))).toBe('EBADF');
    await closeAndCheck(k, [r, wr]);
  });

  it('EAFNOSUPPORT for an unknown domain, EPROTONOSUPPORT for a bad protocol, EPROTOTYPE for a bad type', async () => {
    const { k } = await boot();
    /* No inet component in this kernel. */
    expect(await code(k.sys.socket(PF_INET, SOCK_STREAM))).toBe('EAFNOSUPPORT');
    expect(await code(k.sys.socket(99, SOCK_STREAM))).toBe('EAFNOSUPPORT');
    expect(await code(k.sys.socket(PF_LOCAL, SOCK_STREAM, 17))).toBe('EPROTONOSUPPORT');
    expect(await code(k.sys.socket(PF_LOCAL, SOCK_DGRAM, 6))).toBe('EPROTONOSUPPORT');
    expect(await code(k.sys.socket(PF_LOCAL, SOCK_RAW))).toBe('EPROTOTYPE');
    expect(await code(k.sys.socket(PF_LOCAL, 42))).toBe('EPROTOTYPE');
    expect(await code(k.sys.socketpair(PF_LOCAL, SOCK_RAW))).toBe('EPROTOTYPE');
    /* Bits of the flag field that mean nothing. */
    expect(await code(k.sys.socket(PF_LOCAL, SOCK_STREAM | 0x80000000))).toBe('EINVAL');
    expect(await code(k.sys.socketpair(PF_LOCAL, SOCK_STREAM | 0x80000000))).toBe('EINVAL');
    /* The protocol number of the local protocols is PF_LOCAL, as in NetBSD. */
    const s = await k.sys.socket(PF_LOCAL, SOCK_STREAM, PF_LOCAL);
    expect(net_of(k).nsockets).toBe(1);
    await closeAndCheck(k, [s]);
  });

  it('running out of descriptors in socketpair leaks nothing', async () => {
    const { k } = await boot();
    /* Leave exactly one descriptor below the smallest kern.maxfiles (16) free. */
    const pipes: number[] = [];
    while (pipes.length === 0 || pipes[pipes.length - 1]! < 16) pipes.push(...(await k.sys.pipe()));
    await k.sys.sysctl('kern.maxfiles', 16);
    while (pipes[pipes.length - 1]! >= 15) await k.sys.close(pipes.pop()!);
    const nf = k.nfiles;
    /* The first socket gets the last descriptor, the second none: both are undone. */
    for (const type of [SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET]) {
      expect(await code(k.sys.socketpair(PF_LOCAL, type))).toBe('EMFILE');
      expect(k.nfiles).toBe(nf);
      expect(net_of(k).nsockets).toBe(0);
    }
    await k.sys.close(pipes.pop()!);
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    await closeAndCheck(k, [x, y, ...pipes]);
  });
});

/* ------------------------------------------------------------------------ */

describe('protocol lookup', () => {
  it('pffindproto: a protocol-0 entry is a wildcard for SOCK_RAW only', async () => {
    const { k } = await boot();
    const dom = new Domain(77, 'test', 16);
    const proto = (pr_type: number): Protosw => ({ pr_type, pr_domain: dom, pr_protocol: 0, pr_flags: PR_ATOMIC, pr_usrreqs: unp_usrreqs });
    dom.dom_protosw.push(proto(SOCK_DGRAM), proto(SOCK_RAW));
    const doms = net_of(k).domains;
    doms.domain_attach(k, dom);
    expect(doms.pffindproto(77, 0, SOCK_DGRAM)).toBe(dom.dom_protosw[0]);
    expect(doms.pffindproto(77, 17, SOCK_DGRAM)).toBe(null);
    expect(doms.pffindproto(77, 17, SOCK_RAW)).toBe(dom.dom_protosw[1]);
    expect(await code(k.sys.socket(77, SOCK_DGRAM, 17))).toBe('EPROTONOSUPPORT');
  });
});

describe('upcalls', () => {
  it('a socket upcall fires with POLL_IN when data arrives and POLL_OUT when room returns', async () => {
    const { k } = await boot();
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_STREAM);
    const seen: { ev: number; arg: unknown; rcv: number }[] = [];
    const so = sockof(k, y);
    const tag = { name: 'y' };
    kernel_run(k, () => {
      solock(so);
      soupcall_set(so, (s, arg, events) => { seen.push({ ev: events, arg, rcv: s.so_rcv.sb_cc }); }, tag);
      sounlock(so);
    });
    await k.sys.write(x, 'abc');
    expect(seen).toEqual([{ ev: POLL_IN, arg: tag, rcv: 3 }]);
    const xs = sockof(k, x);
    kernel_run(k, () => {
      solock(xs);
      soupcall_set(xs, (_s, arg, events) => { seen.push({ ev: events, arg, rcv: -1 }); }, 'x');
      sounlock(xs);
    });
    seen.length = 0;
    expect(await readStr(k, y)).toBe('abc');
    /* y's read gave room back to x (pr_rcvd -> sowwakeup). */
    expect(seen).toContainEqual({ ev: POLL_OUT, arg: 'x', rcv: -1 });
    kernel_run(k, () => {
      solock(so);
      soupcall_clear(so);
      sounlock(so);
    });
    seen.length = 0;
    await k.sys.write(x, 'd');
    expect(seen.filter((e) => e.arg === tag)).toEqual([]);
    await closeAndCheck(k, [x, y]);
  });
});

/* ------------------------------------------------------------------------ */

describe('leaks', () => {
  it('a busy mix of sockets, closed in any order, leaves no socket, name or mbuf', async () => {
    const { k } = await boot();
    const fds: number[] = [];
    const { s, c, a } = await connectedPair(k, 'mix');
    fds.push(s, c, a);
    await k.sys.write(c, new Uint8Array(3000));
    await k.sys.write(a, new Uint8Array(100));
    /* Pending, never-accepted connections with data queued. */
    for (let i = 0; i < 3; i++) {
      const p = await k.sys.socket(PF_LOCAL, SOCK_STREAM);
      await k.sys.connect(p, sun('mix'));
      await k.sys.write(p, new Uint8Array(500 * (i + 1)));
      fds.push(p);
    }
    const [x, y] = await k.sys.socketpair(PF_LOCAL, SOCK_SEQPACKET);
    await k.sys.write(x, new Uint8Array(2000));
    await k.sys.write(y, new Uint8Array(10));
    fds.push(y, x);
    const d = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.bind(d, sun('mix-d'));
    const d2 = await k.sys.socket(PF_LOCAL, SOCK_DGRAM);
    await k.sys.connect(d2, sun('mix-d'));
    await k.sys.send(d2, new Uint8Array(1500));
    await k.sys.send(d2, '');
    fds.push(d, d2);
    expect(m_outstanding(net_of(k).mb).mbufs).toBeGreaterThan(0);
    expect(net_of(k).nsockets).toBe(3 + 3 + 3 + 2 + 2);
    /* Close the listener first, then the rest in reverse. */
    await k.sys.close(s);
    await closeAndCheck(k, fds.slice(1).reverse());
  });
});
