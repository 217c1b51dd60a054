/*
 * sockin: PF_INET over the host's sockets (NetBSD's
 * sys/rump/net/lib/libsockin/sockin.c), the kernel half.  It presents
 * the same protosw/pr_usrreqs face as libnetinet's UDP and TCP, so the
 * socket layer, the syscalls, poll, SO_RCVTIMEO and non-blocking I/O
 * behave as with the in-kernel stack, while each socket's traffic goes
 * through one host socket.  There is no IP, ICMP, routing or ifnet, and
 * interface ioctls answer ENOTTY.
 *
 * Host half.  Everything host-specific sits behind SockinHypercalls
 * (sockin_hyper.ts), implemented with Node's net/dgram in sockin_user.ts;
 * this file never touches the host and bundles for a browser.
 *
 * Host events enter as interrupts: each upcall runs intr_dispatch at
 * IPL_NET, whose handler only queues the event and schedules the sockin
 * softint; the softint takes softnet_lock (an adaptive lock, not for hard
 * interrupt context) and does what a protocol's input does: sbappend*,
 * soisconnected, sonewconn, socantrcvmore, sorwakeup.
 *
 * Waiting for the host.  Node's bind, listen and connect are
 * asynchronous.  connect marks the socket connecting and the connect
 * syscall sleeps as it does for TCP (EINPROGRESS when non-blocking,
 * SO_ERROR later).  bind sleeps in pr_bind on so_cv until the host says
 * bound or EADDRINUSE (pr_bind/pr_listen may return a promise for this);
 * a datagram bind usually completes inside the hypercall and costs no
 * sleep.  A stream bind holds the port with a host listener (Node has no
 * bind without listen): until listen(2), connections to it are reset.
 *
 * Flow control.  Receive: when so_rcv is full the host socket is paused;
 * pr_rcvd (the reader took data) resumes it.  Send: data counts as sent
 * once written to the host socket; while the host holds a backlog, it is
 * taken off so_snd's space (through sb_mbmax, so SO_SNDBUF still reads
 * back as set) and given back on the host's drain, which wakes writers.
 *
 * Differences from NetBSD's sockin, whose unsupported requests panic:
 * detach, disconnect and abort work; getsockopt works; rcvd drives flow
 * control; the worker thread that polls every host fd each 100 ms is
 * replaced by host events.  The kthread "sockin" here only sleeps until
 * the kernel halts or panics, then releases every host socket so that
 * the process can exit.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import { kthread_create } from '../../../librump/rumpkern/rump.ts';
import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import { intr_dispatch, IPL_NET, softint_establish, softint_schedule, SOFTINT_NET, type Softint } from '../../../librump/rumpkern/intr.ts';
import { cv_broadcast, cv_wait_sig, mutex_enter, mutex_exit } from '../../../librump/rumpkern/locks.ts';
import { PCATCH, tsleep } from '../../../librump/rumpkern/ltsleep.ts';
import { panic } from '../../../librump/rumpkern/subr_prf.ts';
import {
  EADDRNOTAVAIL, EAFNOSUPPORT, EALREADY, ECONNRESET, EINVAL, EISCONN, EMSGSIZE, ENOBUFS, ENOPROTOOPT, ENOTCONN,
  ENOTTY, EOPNOTSUPP, EPROTONOSUPPORT,
} from '../../../include/errno.ts';
import {
  AF_INET, PF_INET, SO_ACCEPTCONN, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, SO_REUSEADDR, SO_SNDBUF, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET,
} from '../../../include/socket.ts';
import type { Stat } from '../../../include/syscall.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { m_devget, m_freem, m_tobytes, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { SOCKADDR_IN_LEN, sa_family, sockaddr_in, sockaddr_in_parse } from '../../../librump/rumpnet/sockaddr.ts';
import {
  Domain, PR_ADDR, PR_ATOMIC, PR_CONNREQUIRED, PR_LISTEN, PR_WANTRCVD, PRCO_GETOPT, PRCO_SETOPT, type Protosw,
  type PrUsrreqs, type SockaddrBuf, type Sockopt,
} from '../../../librump/rumpnet/uipc_domain.ts';
import { SS_CANTRCVMORE, SS_ISCONNECTED, SS_ISCONNECTING, type Socket } from '../../../librump/rumpnet/socketvar.ts';
import {
  sbappendaddr, sbappendstream, sbspace, socantrcvmore, socantsendmore, soisconnected, soisconnecting,
  soisdisconnected, sonewconn, soreserve, sorwakeup, sowwakeup,
} from '../../../librump/rumpnet/uipc_socket2.ts';
import { IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP, IP_TTL } from '../libnetinet/in.ts';
import type { SockinAddr, SockinHandle, SockinHypercalls, SockinOpt, SockinUpcalls } from './sockin_hyper.ts';

/** netinet/tcp.h's TCP_NODELAY (the one TCP-level option the host takes). */
export const TCP_NODELAY = 0x01;

/** Socket buffer sizes, as NetBSD's sockin (64 KiB both ways, both types). */
export const SOCKIN_SBSIZE = 64 * 1024;
/** The largest UDP payload over IPv4. */
const UDP_MAXPAYLOAD = 65535 - 20 - 8;

/** struct sockinpcb: the kernel's side of one host socket. */
export class Sockinpcb {
  sp_h: SockinHandle | null = null;
  /** Local and foreign addresses (sockaddr_in bytes); null while unknown. */
  sp_laddr: Uint8Array | null = null;
  sp_faddr: Uint8Array | null = null;
  /** A host bind is under way; its outcome lands in sp_binderr. */
  sp_bindwait = false;
  sp_binderr = 0;
  /** The host socket is paused because so_rcv is full. */
  sp_rcvpaused = false;
  /** Bytes the host still holds from our writes (taken off so_snd's space). */
  sp_sndheld = 0;
  /** Options as set, for getsockopt of those only the host keeps. */
  readonly sp_opts = new Map<SockinOpt, number>();

  constructor(readonly sp_socket: Socket) {}
}

/* Host events, queued by the interrupt handler for the softint. */
const EV_BOUND = 1;
const EV_CONNECTED = 2;
const EV_ACCEPTED = 3;
const EV_DATA = 4;
const EV_EOF = 5;
const EV_ERROR = 6;
const EV_DRAIN = 7;

class SockinEvent {
  constructor(
    readonly ev_type: number,
    readonly ev_pcb: Sockinpcb,
    readonly ev_errno: number,
    readonly ev_data: Uint8Array | null,
    readonly ev_local: SockinAddr | null,
    readonly ev_peer: SockinAddr | null,
    readonly ev_child: SockinHandle | null,
  ) {}
}

/** The per-kernel state of sockin. */
export interface SockinState {
  readonly k: Kernel;
  readonly hyp: SockinHypercalls<Sockinpcb>;
  /** Events from the host, in arrival order, for the softint. */
  readonly evq: SockinEvent[];
  si: Softint | null;
  /** Live pcbs (for diagnostics and the halt). */
  readonly pcbs: Set<Sockinpcb>;
  /** Statistics. */
  nevents: number;
  ndrops: number;
  /** Drains: times the host's send backlog emptied after holding data. */
  ndrains: number;
}

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** sockin; set when rumpnet_sockin boots. */
    sockin?: SockinState;
  }
}

function sockin_of(k: Kernel): SockinState {
  const st = k.sockin;
  if (st === undefined) panic(k, 'sockin used in a kernel booted without rumpnet_sockin');
  return st;
}

function sotopcb(so: Socket): Sockinpcb | null {
  const p = so.so_pcb;
  return p instanceof Sockinpcb ? p : null;
}

/* --------------------------------------------------------- addresses */

function quad(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

function sa_to_host(sa: Uint8Array): SockinAddr {
  const p = sockaddr_in_parse(sa)!;
  return { host: quad(p.addr), port: p.port };
}

/** A host address back to sockaddr_in bytes (0.0.0.0 for anything not a dotted quad). */
function host_to_sa(a: SockinAddr): Uint8Array {
  const parts = a.host.split('.');
  let n = 0;
  if (parts.length === 4) for (const x of parts) n = n * 256 + (Number(x) & 255);
  return sockaddr_in(n >>> 0, a.port);
}

/** A user's sockaddr_in, or the errno bind/connect give for it. */
function sin_check(nam: Uint8Array): number {
  if (sa_family(nam) !== AF_INET) return EAFNOSUPPORT;
  if (nam.length < SOCKADDR_IN_LEN || sockaddr_in_parse(nam) === null) return EINVAL;
  return 0;
}

/* ------------------------------------------------------------ upcalls */

/*
 * Each upcall is a hard interrupt that queues the event; the softint does
 * the socket work under softnet_lock.  The handler and the softint are
 * functions of the module, the event an object: no closure per packet.
 */
function sockin_intr(arg: unknown): void {
  const ev = arg as SockinEvent;
  const st = sockin_of(ev.ev_pcb.sp_socket.so_kernel);
  st.evq.push(ev);
  st.nevents++;
  if (st.si !== null) softint_schedule(st.si);
}

function sockin_upcalls(k: Kernel): SockinUpcalls<Sockinpcb> {
  const post = (ev: SockinEvent): void => { intr_dispatch(k, IPL_NET, sockin_intr, ev, true); };
  return {
    bound: (c, error, local) => { post(new SockinEvent(EV_BOUND, c, error, null, local, null, null)); },
    connected: (c, local, peer) => { post(new SockinEvent(EV_CONNECTED, c, 0, null, local, peer, null)); },
    accepted: (c, child, local, peer) => { post(new SockinEvent(EV_ACCEPTED, c, 0, null, local, peer, child)); },
    data: (c, data, from) => { post(new SockinEvent(EV_DATA, c, 0, data, null, from, null)); },
    eof: (c) => { post(new SockinEvent(EV_EOF, c, 0, null, null, null, null)); },
    error: (c, errno) => { post(new SockinEvent(EV_ERROR, c, errno, null, null, null, null)); },
    drain: (c) => { post(new SockinEvent(EV_DRAIN, c, 0, null, null, null, null)); },
  };
}

/** The sockin softint: host events into the sockets, under softnet_lock. */
function sockin_softint(arg: unknown): void {
  const st = arg as SockinState;
  const lock = net_of(st.k).softnet_lock;
  mutex_enter(lock);
  try {
    /* Events queued while this runs (none today: upcalls come from the host loop) are taken too. */
    for (let i = 0; i < st.evq.length; i++) sockin_event(st, st.evq[i]!);
  } finally {
    st.evq.length = 0;
    mutex_exit(lock);
  }
}

function sockin_event(st: SockinState, ev: SockinEvent): void {
  const pcb = ev.ev_pcb;
  const so = pcb.sp_socket;
  /* The socket was closed after the host queued this: nothing to tell. */
  if (so.so_pcb !== pcb) {
    if (ev.ev_type === EV_ACCEPTED) st.hyp.close(ev.ev_child!, true);
    st.ndrops++;
    return;
  }
  switch (ev.ev_type) {
    case EV_BOUND:
      pcb.sp_bindwait = false;
      pcb.sp_binderr = ev.ev_errno;
      /* Failed: forget the provisional address, so that the socket may bind again. */
      if (ev.ev_errno !== 0) pcb.sp_laddr = null;
      else if (ev.ev_local !== null) pcb.sp_laddr = host_to_sa(ev.ev_local);
      cv_broadcast(so.so_cv);
      break;
    case EV_CONNECTED:
      if ((so.so_state & SS_ISCONNECTING) === 0) break;
      pcb.sp_laddr = host_to_sa(ev.ev_local!);
      pcb.sp_faddr = host_to_sa(ev.ev_peer!);
      soisconnected(so);
      break;
    case EV_ACCEPTED:
      sockin_accepted(st, so, ev);
      break;
    case EV_DATA:
      sockin_input(st, pcb, ev);
      break;
    case EV_EOF:
      socantrcvmore(so);
      break;
    case EV_ERROR:
      so.so_error = ev.ev_errno;
      if (so.so_type === SOCK_STREAM) {
        /* The host socket is gone (a refused connect, a reset): as tcp_drop. */
        soisdisconnected(so);
      } else {
        sorwakeup(so);
        sowwakeup(so);
      }
      break;
    case EV_DRAIN:
      st.ndrains++;
      sockin_sndheld(so, pcb, 0);
      sowwakeup(so);
      break;
  }
}

/** A connection on a listener: a socket on its queue, as tcp_input's sonewconn. */
function sockin_accepted(st: SockinState, head: Socket, ev: SockinEvent): void {
  const child = ev.ev_child!;
  const so = (head.so_options & SO_ACCEPTCONN) !== 0 ? sonewconn(head, true) : null;
  if (so === null) {
    /* Not listening, or the backlog is full: the host connection is reset. */
    st.hyp.close(child, true);
    st.ndrops++;
    return;
  }
  const pcb = sotopcb(so)!;
  pcb.sp_h = child;
  pcb.sp_laddr = host_to_sa(ev.ev_local!);
  pcb.sp_faddr = host_to_sa(ev.ev_peer!);
  for (const [opt, v] of sotopcb(head)!.sp_opts) {
    pcb.sp_opts.set(opt, v);
    st.hyp.setopt(child, opt, v);
  }
  st.hyp.adopt(child, pcb);
}

/** Data from the host into so_rcv. */
function sockin_input(st: SockinState, pcb: Sockinpcb, ev: SockinEvent): void {
  const so = pcb.sp_socket;
  const data = ev.ev_data!;
  if ((so.so_state & SS_CANTRCVMORE) !== 0) {
    /* Shut for reading: discarded, as tcp_input and udp_input do. */
    st.ndrops++;
    return;
  }
  const mb = net_of(st.k).mb;
  if (so.so_type === SOCK_DGRAM) {
    const from = host_to_sa(ev.ev_peer!);
    /* A connected datagram socket hears only its peer. */
    if (pcb.sp_faddr !== null && !sa_equal(pcb.sp_faddr, from)) {
      st.ndrops++;
      return;
    }
    const m = m_devget(mb, data, 0, data.length, 0);
    if (m === null || !sbappendaddr(so.so_rcv, from, m, null)) {
      m_freem(m);
      st.ndrops++;
      return;
    }
    sorwakeup(so);
    return;
  }
  const m = m_devget(mb, data, 0, data.length, 0);
  if (m === null) {
    /* A stream cannot lose bytes: out of mbufs, the connection is dropped. */
    so.so_error = ENOBUFS;
    if (pcb.sp_h !== null) st.hyp.close(pcb.sp_h, true);
    soisdisconnected(so);
    return;
  }
  sbappendstream(so.so_rcv, m);
  if (sbspace(so.so_rcv) <= 0 && !pcb.sp_rcvpaused && pcb.sp_h !== null) {
    pcb.sp_rcvpaused = true;
    st.hyp.pause(pcb.sp_h);
  }
  sorwakeup(so);
}

function sa_equal(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 2; i < 8; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The host holds `held` bytes of ours: that much less room in so_snd.
 * so_snd never holds data itself; the room is taken off sb_mbmax (from
 * what sbreserve set), so that SO_SNDBUF still reads back as set.
 */
function sockin_sndheld(so: Socket, pcb: Sockinpcb, held: number): void {
  pcb.sp_sndheld = held;
  const sb = so.so_snd;
  const mbmax = Math.min(sb.sb_hiwat * 2, net_of(so.so_kernel).sb_max);
  sb.sb_mbmax = held > 0 ? Math.max(0, Math.min(mbmax, sb.sb_hiwat - held)) : mbmax;
}

/* --------------------------------------------------------- usrreqs */

function sockin_attach(so: Socket, proto: number, _l: Lwp): number {
  if (sotopcb(so) !== null) return EISCONN;
  const want = so.so_type === SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
  if (proto !== 0 && proto !== want) return EPROTONOSUPPORT;
  const st = sockin_of(so.so_kernel);
  /* A socket made by sonewconn already has its listener's sizes. */
  if (so.so_snd.sb_hiwat === 0 || so.so_rcv.sb_hiwat === 0) {
    const error = soreserve(so, SOCKIN_SBSIZE, SOCKIN_SBSIZE);
    if (error !== 0) return error;
  }
  const pcb = new Sockinpcb(so);
  /* An accepted socket gets the host socket of its connection (sockin_accepted). */
  if (so.so_head === null) pcb.sp_h = st.hyp.create(so.so_type === SOCK_STREAM ? 'tcp' : 'udp', pcb);
  so.so_pcb = pcb;
  st.pcbs.add(pcb);
  return 0;
}

/** Release the host socket and the pcb (close, abort). */
function sockin_detach1(so: Socket, abort: boolean): void {
  const pcb = sotopcb(so);
  if (pcb === null) return;
  const st = sockin_of(so.so_kernel);
  /* Unread data or a zero linger: a reset, as TCP does on close. */
  const rst = abort || so.so_rcv.sb_cc > 0 || ((so.so_options & SO_LINGER) !== 0 && so.so_linger === 0);
  if (pcb.sp_h !== null) st.hyp.close(pcb.sp_h, rst);
  pcb.sp_h = null;
  st.pcbs.delete(pcb);
  so.so_pcb = null;
  if (so.so_type === SOCK_STREAM) soisdisconnected(so);
}

function sockin_detach(so: Socket): void {
  sockin_detach1(so, false);
}

function sockin_abort(so: Socket): number {
  if (sotopcb(so) === null) return EINVAL;
  sockin_detach1(so, true);
  return 0;
}

/**
 * Bind the host socket and sleep until the host answers (with so_lock
 * released, as every socket sleep).  0 or an errno.
 */
async function sockin_hostbind_wait(so: Socket, pcb: Sockinpcb, l: Lwp): Promise<number> {
  while (pcb.sp_bindwait) {
    const error = await cv_wait_sig(so.so_cv, so.so_lock, l);
    if (error !== 0) return error;
    if (so.so_pcb !== pcb) return EINVAL;
  }
  return pcb.sp_binderr;
}

/** Start the host bind: a number when done at once, else a promise to await. */
function sockin_hostbind(so: Socket, pcb: Sockinpcb, local: SockinAddr, l: Lwp | null): number | Promise<number> {
  const st = sockin_of(so.so_kernel);
  const r = st.hyp.bind(pcb.sp_h!, local);
  if (r !== null) {
    if (r === 0) pcb.sp_laddr = host_to_sa(st.hyp.localaddr(pcb.sp_h!) ?? local);
    return r;
  }
  pcb.sp_bindwait = true;
  pcb.sp_binderr = 0;
  /* Provisional, so that getsockname says where while the host finishes. */
  pcb.sp_laddr = host_to_sa(local);
  return l === null ? 0 : sockin_hostbind_wait(so, pcb, l);
}

function sockin_bind(so: Socket, nam: Uint8Array, l: Lwp): number | Promise<number> {
  const pcb = sotopcb(so);
  if (pcb === null || pcb.sp_h === null) return EINVAL;
  const e = sin_check(nam);
  if (e !== 0) return e;
  if (pcb.sp_laddr !== null || pcb.sp_bindwait) return EINVAL;
  const local = sa_to_host(nam);
  /* The host refuses addresses it does not have (EADDRNOTAVAIL); multicast binds are not mapped. */
  if ((Number(local.host.split('.')[0]) & 0xf0) === 0xe0) return EADDRNOTAVAIL;
  return sockin_hostbind(so, pcb, local, l);
}

function sockin_listen(so: Socket, l: Lwp): number | Promise<number> {
  const pcb = sotopcb(so);
  if (pcb === null || pcb.sp_h === null) return EINVAL;
  if (pcb.sp_bindwait) return EALREADY;
  const st = sockin_of(so.so_kernel);
  if (pcb.sp_laddr !== null) {
    st.hyp.listen(pcb.sp_h);
    return 0;
  }
  /* listen(2) on an unbound socket binds it to an ephemeral port, as in_pcbbind does. */
  const r = sockin_hostbind(so, pcb, { host: '0.0.0.0', port: 0 }, l);
  const done = (error: number): number => {
    if (error === 0 && pcb.sp_h !== null) st.hyp.listen(pcb.sp_h);
    return error;
  };
  return typeof r === 'number' ? done(r) : r.then(done);
}

function sockin_connect(so: Socket, nam: Uint8Array, _l: Lwp): number {
  const pcb = sotopcb(so);
  if (pcb === null || pcb.sp_h === null) return EINVAL;
  const e = sin_check(nam);
  if (e !== 0) return e;
  const st = sockin_of(so.so_kernel);
  const peer = sa_to_host(nam);
  if (peer.port === 0) return EADDRNOTAVAIL;
  if (so.so_type === SOCK_DGRAM) {
    /* A datagram connect only names the peer; the host socket stays unconnected and we filter. */
    if (pcb.sp_laddr === null && !pcb.sp_bindwait) {
      const r = sockin_hostbind(so, pcb, { host: '0.0.0.0', port: 0 }, null);
      if (typeof r === 'number' && r !== 0) return r;
    }
    pcb.sp_faddr = nam.slice(0, SOCKADDR_IN_LEN);
    soisconnected(so);
    return 0;
  }
  if (pcb.sp_bindwait) return EALREADY;
  const local = pcb.sp_laddr !== null ? sa_to_host(pcb.sp_laddr) : null;
  pcb.sp_faddr = nam.slice(0, SOCKADDR_IN_LEN);
  soisconnecting(so);
  st.hyp.connect(pcb.sp_h, peer, local);
  return 0;
}

function sockin_disconnect(so: Socket): number {
  const pcb = sotopcb(so);
  if (pcb === null) return EINVAL;
  if (so.so_type === SOCK_DGRAM) {
    pcb.sp_faddr = null;
    so.so_state &= ~SS_ISCONNECTED;
    return 0;
  }
  /* The host closes gracefully in detach; for the socket, the connection is over. */
  soisdisconnected(so);
  return 0;
}

function sockin_shutdown(so: Socket): number {
  const pcb = sotopcb(so);
  if (pcb === null) return EINVAL;
  socantsendmore(so);
  if (so.so_type === SOCK_STREAM && pcb.sp_h !== null) sockin_of(so.so_kernel).hyp.shutdown(pcb.sp_h);
  return 0;
}

function sockin_send(so: Socket, m: Mbuf, nam: Uint8Array | null, control: Mbuf | null, _l: Lwp): number {
  const pcb = sotopcb(so);
  m_freem(control);
  if (pcb === null || pcb.sp_h === null) {
    m_freem(m);
    return EINVAL;
  }
  const st = sockin_of(so.so_kernel);
  const data = m_tobytes(m);
  m_freem(m);
  if (so.so_type === SOCK_STREAM) {
    const held = st.hyp.write(pcb.sp_h, data);
    if (held !== pcb.sp_sndheld) sockin_sndheld(so, pcb, held);
    return 0;
  }
  let to: Uint8Array;
  if (nam !== null) {
    if (pcb.sp_faddr !== null) return EISCONN;
    const e = sin_check(nam);
    if (e !== 0) return e;
    to = nam;
  } else {
    if (pcb.sp_faddr === null) return ENOTCONN;
    to = pcb.sp_faddr;
  }
  if (data.length > UDP_MAXPAYLOAD) return EMSGSIZE;
  const dst = sa_to_host(to);
  if (dst.port === 0) return EADDRNOTAVAIL;
  /* An unbound socket is bound to an ephemeral port first, as udp_output's in_pcbbind. */
  if (pcb.sp_laddr === null && !pcb.sp_bindwait) {
    const r = sockin_hostbind(so, pcb, { host: '0.0.0.0', port: 0 }, null);
    if (typeof r === 'number' && r !== 0) return r;
  }
  return st.hyp.sendto(pcb.sp_h, data, dst);
}

function sockin_rcvd(so: Socket, _flags: number, _l: Lwp): number {
  const pcb = sotopcb(so);
  if (pcb === null) return EINVAL;
  /* The reader made room: let the host deliver again. */
  if (pcb.sp_rcvpaused && sbspace(so.so_rcv) > 0 && pcb.sp_h !== null) {
    pcb.sp_rcvpaused = false;
    sockin_of(so.so_kernel).hyp.resume(pcb.sp_h);
  }
  return 0;
}

function sockin_accept(so: Socket, nam: SockaddrBuf): number {
  const pcb = sotopcb(so);
  if (pcb === null) return ECONNRESET;
  nam.sa = pcb.sp_faddr !== null ? pcb.sp_faddr.slice() : null;
  return 0;
}

function sockin_sockaddr(so: Socket, nam: SockaddrBuf): number {
  const pcb = sotopcb(so);
  if (pcb === null) return EINVAL;
  nam.sa = pcb.sp_laddr !== null ? pcb.sp_laddr.slice() : sockaddr_in(0, 0);
  return 0;
}

function sockin_peeraddr(so: Socket, nam: SockaddrBuf): number {
  const pcb = sotopcb(so);
  if (pcb === null) return EINVAL;
  if (pcb.sp_faddr === null || (so.so_state & SS_ISCONNECTED) === 0) return ENOTCONN;
  nam.sa = pcb.sp_faddr.slice();
  return 0;
}

function sockin_stat(_so: Socket, _st: Stat): number {
  return 0;
}

function sockin_oob(_so: Socket, m: Mbuf, control: Mbuf | null): number {
  m_freem(m);
  m_freem(control);
  return EOPNOTSUPP;
}

/** A numeric option value (booleans as 0/1), or null. */
function optint(v: unknown): number | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

/** Which host option a (level, name) is, or null: the rest are ENOPROTOOPT. */
function sockin_optmap(so: Socket, level: number, name: number): SockinOpt | null {
  if (level === SOL_SOCKET) {
    switch (name) {
      case SO_REUSEADDR: return 'reuseaddr';
      case SO_KEEPALIVE: return so.so_type === SOCK_STREAM ? 'keepalive' : null;
      case SO_RCVBUF: return 'rcvbuf';
      case SO_SNDBUF: return 'sndbuf';
      default: return null;
    }
  }
  if (level === IPPROTO_TCP && so.so_type === SOCK_STREAM && name === TCP_NODELAY) return 'nodelay';
  if (level === IPPROTO_IP && so.so_type === SOCK_DGRAM && name === IP_TTL) return 'ttl';
  return null;
}

/**
 * sockin_ctloutput: options that map onto the host socket.  SOL_SOCKET
 * options reach here after the socket layer has applied them (the sockbuf
 * sizes, timeouts, so_options); those with a host meaning are passed on,
 * and for the others ENOPROTOOPT tells the socket layer it was not ours.
 * At the IP and TCP levels only IP_TTL (datagram) and TCP_NODELAY exist.
 */
function sockin_ctloutput(op: number, so: Socket, sopt: Sockopt): number {
  const pcb = sotopcb(so);
  if (pcb === null) return EINVAL;
  const opt = sockin_optmap(so, sopt.sopt_level, sopt.sopt_name);
  if (opt === null) return ENOPROTOOPT;
  if (op === PRCO_GETOPT) {
    sopt.sopt_value = pcb.sp_opts.get(opt) ?? 0;
    return 0;
  }
  if (op !== PRCO_SETOPT) return EINVAL;
  let v = optint(sopt.sopt_value);
  if (v === null) return EINVAL;
  if (opt === 'ttl' && (v < 0 || v > 255)) return EINVAL;
  if (opt === 'rcvbuf') v = so.so_rcv.sb_hiwat;
  if (opt === 'sndbuf') {
    v = so.so_snd.sb_hiwat;
    /* sbreserve reset sb_mbmax: take the host's backlog off it again. */
    sockin_sndheld(so, pcb, pcb.sp_sndheld);
  }
  pcb.sp_opts.set(opt, v);
  /* Stream sockets have no host buffer sizes to set in Node: so_rcv/so_snd's limits are the flow control. */
  if (so.so_type === SOCK_STREAM && (opt === 'rcvbuf' || opt === 'sndbuf')) return 0;
  if (pcb.sp_h === null) return 0;
  return sockin_of(so.so_kernel).hyp.setopt(pcb.sp_h, opt, v);
}

export const sockin_usrreqs: PrUsrreqs = Object.freeze({
  pr_attach: sockin_attach,
  pr_detach: sockin_detach,
  pr_accept: sockin_accept,
  pr_bind: sockin_bind,
  pr_listen: sockin_listen,
  pr_connect: sockin_connect,
  pr_connect2: () => EOPNOTSUPP,
  pr_disconnect: sockin_disconnect,
  pr_shutdown: sockin_shutdown,
  pr_abort: sockin_abort,
  /* No interfaces, so no interface ioctls (NetBSD's sockin answers ENOTTY to all). */
  pr_ioctl: () => ENOTTY,
  pr_stat: sockin_stat,
  pr_peeraddr: sockin_peeraddr,
  pr_sockaddr: sockin_sockaddr,
  pr_rcvd: sockin_rcvd,
  pr_recvoob: () => EOPNOTSUPP,
  pr_send: sockin_send,
  pr_sendoob: sockin_oob,
  pr_purgeif: () => EOPNOTSUPP,
});

/** The PF_INET domain of sockin: UDP and TCP, nothing else (NetBSD's sockindomain). */
export function sockindomain_create(): Domain {
  const dom = new Domain(PF_INET, 'sockin', SOCKADDR_IN_LEN);
  const sw = (pr_type: number, pr_protocol: number, pr_flags: number): Protosw => ({
    pr_type, pr_domain: dom, pr_protocol, pr_flags, pr_usrreqs: sockin_usrreqs, pr_ctloutput: sockin_ctloutput,
  });
  dom.dom_protosw.push(
    sw(SOCK_DGRAM, IPPROTO_UDP, PR_ATOMIC | PR_ADDR),
    sw(SOCK_STREAM, IPPROTO_TCP, PR_CONNREQUIRED | PR_WANTRCVD | PR_LISTEN),
  );
  return dom;
}

/** sockin_init: the kernel's sockin state over a host half made from its upcalls. */
export function sockin_init(
  k: Kernel, mkhyp: (up: SockinUpcalls<Sockinpcb>) => SockinHypercalls<Sockinpcb>,
): SockinState {
  const st: SockinState = {
    k, hyp: mkhyp(sockin_upcalls(k)), evq: [], si: null, pcbs: new Set(), nevents: 0, ndrops: 0, ndrains: 0,
  };
  k.sockin = st;
  st.si = softint_establish(k, SOFTINT_NET, sockin_softint, st, 'sockin');
  net_of(k).domains.domain_attach(k, sockindomain_create());
  /*
   * The kernel gives components no halt hook; a thread does: it sleeps
   * until the halt (or a panic) wakes every sleeper, then releases the
   * host sockets, so that a halted kernel leaves nothing open.
   */
  kthread_create(k, 'sockin', async (l) => {
    try {
      while (!k.dying) await tsleep(l, st, PCATCH, 'sockinfini', 0);
    } finally {
      st.hyp.fini();
    }
  });
  return st;
}
