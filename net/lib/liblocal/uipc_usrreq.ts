/*
 * The local (unix) domain, PF_LOCAL (NetBSD's sys/kern/uipc_usrreq.c):
 * stream, datagram and seqpacket sockets between processes of one kernel.
 *
 * Each socket has a protocol control block, an Unpcb.  A connected stream
 * or seqpacket socket points at its peer's (unp_conn, both ways); a
 * connected datagram socket points at its target, which lists every
 * datagram socket connected to it (unp_refs, linked through unp_nextref).
 * There is no wire: pr_send puts the data straight into the peer's so_rcv.
 *
 * Names.  NetBSD binds a name by creating a socket vnode in the file
 * system (namei), and finds the socket through it on connect.  There is
 * no file system yet, so each kernel keeps its own name table, a Map from
 * path to the bound Unpcb (LocalState.unp_names; unp_bound stands in for
 * unp_vnode).  What follows from that, and differs from NetBSD:
 *   - a name is freed when the bound socket is closed (NetBSD leaves the
 *     socket file behind until unlink(2), and a later bind gives
 *     EADDRINUSE until then);
 *   - paths are plain keys: no directories, no permissions, "a" and "./a"
 *     are different names;
 *   - connecting to a name nobody holds is ENOENT, as namei's lookup
 *     failure is in NetBSD; a stale socket file (ECONNREFUSED there)
 *     cannot exist.
 *
 * Flow control, as NetBSD does it for unix streams: the sender's so_snd
 * never holds data, but its limits mirror the room left in the peer's
 * so_rcv.  pr_send appends to the peer and takes what it appended off the
 * sender's sb_hiwat (and the storage off sb_mbmax); pr_rcvd on the reader
 * gives back what the reader consumed and wakes the sender.  unp_cc and
 * unp_mbcnt of the receiving pcb remember the last so_rcv counts seen.
 * One consequence is NetBSD's too: sosend refuses an atomic (seqpacket)
 * message larger than the sender's current, shrunken sb_hiwat with
 * EMSGSIZE rather than waiting for the reader.
 *
 * Datagrams go with the sender's bound name (an empty sockaddr_un when it
 * has none) through sbappendaddr; a receiver without room drops the
 * datagram and the sender gets ENOBUFS, as NetBSD.
 *
 * Not done: descriptor passing (SCM_RIGHTS, PR_RIGHTS) and its garbage
 * collector, credentials (LOCAL_CREDS, LOCAL_PEEREID), LOCAL_CONNWAIT.
 *
 * Locking: every socket of the kernel shares softnet_lock as so_lock, so
 * the per-pair and domain-wide lock juggling of NetBSD (uipc_lock,
 * unp_streamlock, unp_setpeerlocks) is not needed: every entry here runs
 * with that one lock held by the socket layer.
 */

import type { Kernel } from '../../../librump/rumpkern/rump.ts';
import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import { panic } from '../../../librump/rumpkern/subr_prf.ts';
import {
  EADDRINUSE, EAFNOSUPPORT, ECONNABORTED, ECONNREFUSED, ECONNRESET, EINVAL, EISCONN, ENOBUFS, ENOENT,
  ENOPROTOOPT, ENOTCONN, EOPNOTSUPP, EPROTOTYPE,
} from '../../../include/errno.ts';
import { AF_LOCAL, PF_LOCAL, SO_ACCEPTCONN, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM } from '../../../include/socket.ts';
import { CTLFLAG_READWRITE, CTLTYPE_INT, CTLTYPE_NODE } from '../../../include/sysctl.ts';
import type { Stat } from '../../../include/syscall.ts';
import { m_freem, type Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { sa_family, SOCKADDR_UN_LEN, sockaddr_un, sockaddr_un_path } from '../../../librump/rumpnet/sockaddr.ts';
import {
  Domain, PR_ADDR, PR_ATOMIC, PR_CONNREQUIRED, PR_LISTEN, PR_WANTRCVD, type Protosw, type PrUsrreqs,
  type SockaddrBuf, type Sockopt,
} from '../../../librump/rumpnet/uipc_domain.ts';
import { SS_CANTRCVMORE, SS_ISCONNECTED, type Socket } from '../../../librump/rumpnet/socketvar.ts';
import {
  sbappendaddr, sbappendrecord, sbappendstream, socantrcvmore, socantsendmore, soisconnected, soisdisconnected,
  sonewconn, soreserve, sorwakeup, sowwakeup,
} from '../../../librump/rumpnet/uipc_socket2.ts';

/*
 * Default buffer sizes, NetBSD's (uipc_usrreq.c): PIPSIZ = 4096 for both
 * stream buffers (the pair together holds about that much, see above);
 * for datagrams the send space is the largest datagram and the receive
 * space must hold at least one of those plus the sender's address.
 * Seqpacket sockets use the stream sizes, as in NetBSD.  All four are
 * tunable as net.local.{stream,dgram}.{sendspace,recvspace}; a change
 * applies to sockets made afterwards.
 */
export const PIPSIZ = 4096;
export const UNPST_SENDSPACE = PIPSIZ;
export const UNPST_RECVSPACE = PIPSIZ;
export const UNPDG_SENDSPACE = 2 * 1024;
export const UNPDG_RECVSPACE = 4 * 1024;

/** sizeof(sun_len) + sizeof(sun_family): the length of an unnamed sockaddr_un. */
const SUN_NONAME_LEN = 2;

/** The per-kernel state of the local domain (globals in NetBSD). */
export interface LocalState {
  /** The name space: path -> the pcb bound to it (see the header comment). */
  readonly unp_names: Map<string, Unpcb>;
  unpst_sendspace: number;
  unpst_recvspace: number;
  unpdg_sendspace: number;
  unpdg_recvspace: number;
}

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** The local domain; set when rumplocal boots. */
    local?: LocalState;
  }
}

export function local_of(k: Kernel): LocalState {
  const s = k.local;
  if (s === undefined) panic(k, 'local domain used in a kernel booted without rumplocal');
  return s;
}

/** struct unpcb */
export class Unpcb {
  /** Stream/seqpacket: the peer; datagram: the socket sent to when no address is given. */
  unp_conn: Unpcb | null = null;
  /** Datagram: first of the sockets connected to this one, linked by unp_nextref. */
  unp_refs: Unpcb | null = null;
  unp_nextref: Unpcb | null = null;
  /** Our name (sockaddr_un bytes): bound, or a listener's name copied to its accepted sockets. */
  unp_addr: Uint8Array | null = null;
  /** The name-table key this pcb holds (NetBSD's unp_vnode); null if it did not bind. */
  unp_bound: string | null = null;
  /** so_rcv.sb_cc and sb_mbcnt as last mirrored into the peer's so_snd. */
  unp_cc = 0;
  unp_mbcnt = 0;
  /** Fake inode number for fstat, given on first use. */
  unp_ino = 0;
  readonly unp_ctime: { tv_sec: number; tv_nsec: number };

  constructor(readonly unp_socket: Socket, now: { tv_sec: number; tv_nsec: number }) {
    this.unp_ctime = now;
  }
}

function sotounpcb(so: Socket): Unpcb | null {
  const p = so.so_pcb;
  return p instanceof Unpcb ? p : null;
}

/** The wall-clock time now (nanotime), for unp_ctime. */
function nanotime(k: Kernel): { tv_sec: number; tv_nsec: number } {
  const ns = k.boottime.tv_nsec + k.uptimeNs();
  const sec = Math.floor(ns / 1e9);
  return { tv_sec: k.boottime.tv_sec + sec, tv_nsec: Math.floor(ns - sec * 1e9) };
}

/** The path of a sockaddr_un from a user, or an errno. */
function unp_nampath(nam: Uint8Array): { error: number; path: string } {
  if (nam.length < SUN_NONAME_LEN || sa_family(nam) !== AF_LOCAL) return { error: EAFNOSUPPORT, path: '' };
  if (nam.length > SOCKADDR_UN_LEN) return { error: EINVAL, path: '' };
  const path = sockaddr_un_path(nam) ?? '';
  /* namei of an empty path fails with ENOENT. */
  if (path === '') return { error: ENOENT, path: '' };
  return { error: 0, path };
}

/* ------------------------------------------------------------ attach */

function unp_attach(so: Socket, _proto: number, _l: Lwp): number {
  if (sotounpcb(so) !== null) return EISCONN;
  const k = so.so_kernel;
  const ls = local_of(k);
  let sndspc: number;
  let rcvspc: number;
  switch (so.so_type) {
    case SOCK_STREAM:
    case SOCK_SEQPACKET:
      sndspc = ls.unpst_sendspace;
      rcvspc = ls.unpst_recvspace;
      break;
    case SOCK_DGRAM:
      sndspc = ls.unpdg_sendspace;
      rcvspc = ls.unpdg_recvspace;
      break;
    default:
      panic(k, `unp_attach: socket type ${so.so_type}`);
  }
  /* A socket made by sonewconn already has its listener's sizes. */
  if (so.so_snd.sb_hiwat === 0 || so.so_rcv.sb_hiwat === 0) {
    const error = soreserve(so, sndspc, rcvspc);
    if (error !== 0) return error;
  }
  so.so_pcb = new Unpcb(so, nanotime(k));
  return 0;
}

/**
 * unp_detach: the socket is going away.  Its name is freed, its peer
 * disconnected, and datagram sockets connected to it are dropped with
 * ECONNRESET.
 */
function unp_detach(so: Socket): void {
  const unp = sotounpcb(so);
  if (unp === null) return;
  if (unp.unp_bound !== null) {
    local_of(so.so_kernel).unp_names.delete(unp.unp_bound);
    unp.unp_bound = null;
  }
  if (unp.unp_conn !== null) unp_disconnect(unp);
  while (unp.unp_refs !== null) unp_drop(unp.unp_refs, ECONNRESET);
  soisdisconnected(so);
  so.so_pcb = null;
}

/* -------------------------------------------------------------- names */

/** unp_bind: enter the name in the kernel's name table. */
function unp_bind(so: Socket, nam: Uint8Array, _l: Lwp): number {
  const unp = sotounpcb(so);
  if (unp === null) return EINVAL;
  const { error, path } = unp_nampath(nam);
  if (error !== 0) return error;
  if (unp.unp_bound !== null) return EINVAL;
  const names = local_of(so.so_kernel).unp_names;
  if (names.has(path)) return EADDRINUSE;
  names.set(path, unp);
  unp.unp_bound = path;
  /* Stored normalised (sun_len = 2 + strlen(path)), as NetBSD's makeun(). */
  unp.unp_addr = sockaddr_un(path);
  return 0;
}

/** unp_listen: only a named socket can listen (NetBSD: no vnode, EINVAL). */
function unp_listen(so: Socket, _l: Lwp): number {
  const unp = sotounpcb(so);
  if (unp === null) return EINVAL;
  return unp.unp_bound === null ? EINVAL : 0;
}

/**
 * The pcb so may connect or send to at nam: ENOENT if nobody holds the
 * name, EPROTOTYPE if its socket is of another type.
 */
function unp_lookup(so: Socket, nam: Uint8Array): { error: number; unp2: Unpcb | null } {
  const { error, path } = unp_nampath(nam);
  if (error !== 0) return { error, unp2: null };
  const unp2 = local_of(so.so_kernel).unp_names.get(path);
  if (unp2 === undefined) return { error: ENOENT, unp2: null };
  if (unp2.unp_socket.so_type !== so.so_type) return { error: EPROTOTYPE, unp2: null };
  return { error: 0, unp2 };
}

/**
 * unp_connect: connect so to the socket named nam.  For a stream or
 * seqpacket socket the named one must listen: a new socket is made on its
 * queue (sonewconn) and the two are joined; a listener whose queue is full
 * refuses (ECONNREFUSED).  Both ends are connected at once (NetBSD without
 * LOCAL_CONNWAIT), so connect never returns EINPROGRESS here.
 */
function unp_connect(so: Socket, nam: Uint8Array, _l: Lwp): number {
  const unp = sotounpcb(so);
  if (unp === null) return EINVAL;
  const { error, unp2 } = unp_lookup(so, nam);
  if (unp2 === null) return error;
  let so2 = unp2.unp_socket;
  if ((so.so_proto.pr_flags & PR_CONNREQUIRED) !== 0) {
    const so3 = (so2.so_options & SO_ACCEPTCONN) !== 0 ? sonewconn(so2, false) : null;
    if (so3 === null) return ECONNREFUSED;
    /* The accepted socket answers getsockname with the listener's name. */
    const unp3 = sotounpcb(so3)!;
    if (unp2.unp_addr !== null) unp3.unp_addr = unp2.unp_addr.slice();
    so2 = so3;
  }
  return unp_connect2(so, so2);
}

/**
 * unp_connect2: join so to so2 (connect, accept, socketpair).  A datagram
 * socket only points at its target; a stream pair points both ways and
 * both ends become connected (moving so2 from its listener's incomplete
 * queue to the complete one, which wakes accept).
 */
function unp_connect2(so: Socket, so2: Socket): number {
  if (so2.so_type !== so.so_type) return EPROTOTYPE;
  const unp = sotounpcb(so);
  const unp2 = sotounpcb(so2);
  if (unp === null || unp2 === null) return EINVAL;
  unp.unp_conn = unp2;
  switch (so.so_type) {
    case SOCK_DGRAM:
      unp.unp_nextref = unp2.unp_refs;
      unp2.unp_refs = unp;
      soisconnected(so);
      break;
    case SOCK_STREAM:
    case SOCK_SEQPACKET:
      unp2.unp_conn = unp;
      soisconnected(so);
      soisconnected(so2);
      break;
    default:
      panic(so.so_kernel, `unp_connect2: socket type ${so.so_type}`);
  }
  return 0;
}

/** unp_disconnect: undo unp_connect2; a stream's two ends both see the end. */
function unp_disconnect(unp: Unpcb): void {
  const unp2 = unp.unp_conn;
  if (unp2 === null) return;
  unp.unp_conn = null;
  const so = unp.unp_socket;
  switch (so.so_type) {
    case SOCK_DGRAM: {
      if (unp2.unp_refs === unp) {
        unp2.unp_refs = unp.unp_nextref;
      } else {
        let r = unp2.unp_refs;
        while (r !== null && r.unp_nextref !== unp) r = r.unp_nextref;
        if (r === null) panic(so.so_kernel, 'unp_disconnect: not on the peer\'s reference list');
        r.unp_nextref = unp.unp_nextref;
      }
      unp.unp_nextref = null;
      so.so_state &= ~SS_ISCONNECTED;
      break;
    }
    case SOCK_STREAM:
    case SOCK_SEQPACKET:
      soisdisconnected(so);
      unp2.unp_conn = null;
      soisdisconnected(unp2.unp_socket);
      break;
  }
}

/**
 * unp_drop: cut unp off with an error, which its next call reports.  Unlike
 * NetBSD this also wakes the socket, so that a reader blocked on a
 * datagram socket whose target went away sees the error at once.
 */
function unp_drop(unp: Unpcb, errno: number): void {
  const so = unp.unp_socket;
  so.so_error = errno;
  unp_disconnect(unp);
  sorwakeup(so);
  sowwakeup(so);
}

/** unp_shutdown: our SHUT_WR is the end of the stream for the peer. */
function unp_shutdown(unp: Unpcb): void {
  const so = unp.unp_socket;
  if (so.so_type !== SOCK_DGRAM && unp.unp_conn !== null) socantrcvmore(unp.unp_conn.unp_socket);
}

/* ---------------------------------------------------------- addresses */

/** unp_setaddr: our name, or the peer's; an unnamed socket gives an empty sockaddr_un. */
function unp_setaddr(so: Socket, nam: SockaddrBuf, peeraddr: boolean): void {
  const unp = sotounpcb(so);
  const sun = peeraddr ? (unp?.unp_conn?.unp_addr ?? null) : (unp?.unp_addr ?? null);
  nam.sa = sun !== null ? sun.slice() : Uint8Array.of(SUN_NONAME_LEN, AF_LOCAL);
}

/* --------------------------------------------------------------- data */

/**
 * unp_output: a datagram into so2's receive buffer with our name.  A full
 * receiver drops it (counted in its sb_overflowed by sbappendaddr) and the
 * sender gets ENOBUFS.
 */
function unp_output(m: Mbuf, control: Mbuf | null, unp: Unpcb, unp2: Unpcb): number {
  const so2 = unp2.unp_socket;
  const sun = unp.unp_addr ?? Uint8Array.of(SUN_NONAME_LEN, AF_LOCAL);
  if (!sbappendaddr(so2.so_rcv, sun, m, control)) {
    m_freem(control);
    m_freem(m);
    return ENOBUFS;
  }
  sorwakeup(so2);
  return 0;
}

function unp_send(so: Socket, m: Mbuf, nam: Uint8Array | null, control: Mbuf | null, _l: Lwp): number {
  const unp = sotounpcb(so);
  if (unp === null || control !== null) {
    /* No control messages: SCM_RIGHTS is not supported (unp_internalize refuses the rest). */
    m_freem(m);
    m_freem(control);
    return EINVAL;
  }
  if (so.so_type === SOCK_DGRAM) {
    let unp2: Unpcb | null;
    if (nam !== null) {
      /* NetBSD connects for the send and disconnects after; a lookup is the same thing. */
      if ((so.so_state & SS_ISCONNECTED) !== 0) {
        m_freem(m);
        return EISCONN;
      }
      const r = unp_lookup(so, nam);
      if (r.unp2 === null) {
        m_freem(m);
        return r.error;
      }
      unp2 = r.unp2;
    } else {
      if ((so.so_state & SS_ISCONNECTED) === 0) {
        m_freem(m);
        return ENOTCONN;
      }
      unp2 = unp.unp_conn;
      if (unp2 === null) {
        m_freem(m);
        return ECONNREFUSED;
      }
    }
    return unp_output(m, null, unp, unp2);
  }
  /* Stream and seqpacket. */
  const unp2 = unp.unp_conn;
  if (unp2 === null) {
    m_freem(m);
    return ENOTCONN;
  }
  const so2 = unp2.unp_socket;
  const rcv = so2.so_rcv;
  const snd = so.so_snd;
  if ((so2.so_state & SS_CANTRCVMORE) !== 0) {
    /*
     * The peer shut its read side: the data is discarded, as tcp_input
     * does.  (NetBSD's unix sockets append it anyway, so the reader would
     * find data after the end-of-file it was promised.)
     */
    m_freem(m);
    return 0;
  }
  if (so.so_type === SOCK_SEQPACKET) sbappendrecord(rcv, m);
  else sbappendstream(rcv, m);
  /* Take what the peer now holds off our limits: the back pressure. */
  snd.sb_mbmax -= rcv.sb_mbcnt - unp2.unp_mbcnt;
  unp2.unp_mbcnt = rcv.sb_mbcnt;
  snd.sb_hiwat -= rcv.sb_cc - unp2.unp_cc;
  unp2.unp_cc = rcv.sb_cc;
  sorwakeup(so2);
  return 0;
}

/** unp_rcvd: the reader took data; give the room back to the sender and wake it. */
function unp_rcvd(so: Socket, _flags: number, _l: Lwp): number {
  const unp = sotounpcb(so);
  if (unp === null) return EINVAL;
  if (so.so_type === SOCK_DGRAM) panic(so.so_kernel, 'unp_rcvd: datagram socket');
  const unp2 = unp.unp_conn;
  if (unp2 === null) return 0;
  const so2 = unp2.unp_socket;
  const rcv = so.so_rcv;
  const snd = so2.so_snd;
  snd.sb_mbmax += unp.unp_mbcnt - rcv.sb_mbcnt;
  unp.unp_mbcnt = rcv.sb_mbcnt;
  snd.sb_hiwat += unp.unp_cc - rcv.sb_cc;
  unp.unp_cc = rcv.sb_cc;
  sowwakeup(so2);
  return 0;
}

/* -------------------------------------------------------------- misc */

function unp_accept(so: Socket, nam: SockaddrBuf): number {
  if (sotounpcb(so) === null) return EINVAL;
  /* The peer's name (empty if it is gone or unnamed). */
  unp_setaddr(so, nam, true);
  return 0;
}

function unp_disconnect1(so: Socket): number {
  const unp = sotounpcb(so);
  if (unp === null) return EINVAL;
  unp_disconnect(unp);
  return 0;
}

function unp_shutdown1(so: Socket): number {
  const unp = sotounpcb(so);
  if (unp === null) return EINVAL;
  socantsendmore(so);
  unp_shutdown(unp);
  return 0;
}

/**
 * unp_abort: a connection still on a closing listener's queue.  The peer
 * sees the connection end; the socket layer (soabort) frees the socket.
 */
function unp_abort(so: Socket): number {
  const unp = sotounpcb(so);
  if (unp === null) return EINVAL;
  unp_drop(unp, ECONNABORTED);
  unp_detach(so);
  return 0;
}

function unp_stat(so: Socket, st: Stat): number {
  const unp = sotounpcb(so);
  if (unp === null) return EINVAL;
  st.st_blksize = so.so_snd.sb_hiwat;
  if (so.so_type !== SOCK_DGRAM && unp.unp_conn !== null) st.st_blksize += unp.unp_conn.unp_socket.so_rcv.sb_cc;
  if (unp.unp_ino === 0) unp.unp_ino = so.so_kernel.nextino++;
  st.st_ino = unp.unp_ino;
  st.st_atimespec = { tv_sec: unp.unp_ctime.tv_sec, tv_nsec: unp.unp_ctime.tv_nsec };
  return 0;
}

function unp_sockaddr(so: Socket, nam: SockaddrBuf): number {
  if (sotounpcb(so) === null) return EINVAL;
  unp_setaddr(so, nam, false);
  return 0;
}

function unp_peeraddr(so: Socket, nam: SockaddrBuf): number {
  if (sotounpcb(so) === null) return EINVAL;
  unp_setaddr(so, nam, true);
  return 0;
}

function unp_sendoob(_so: Socket, m: Mbuf, control: Mbuf | null): number {
  m_freem(m);
  m_freem(control);
  return EOPNOTSUPP;
}

/** uipc_ctloutput: the local-level (0) options; none are supported yet. */
function uipc_ctloutput(_op: number, _so: Socket, _sopt: Sockopt): number {
  return ENOPROTOOPT;
}

/** The user requests, one table for all three socket types (NetBSD's unp_usrreqs). */
export const unp_usrreqs: PrUsrreqs = Object.freeze({
  pr_attach: unp_attach,
  pr_detach: unp_detach,
  pr_accept: unp_accept,
  pr_bind: unp_bind,
  pr_listen: unp_listen,
  pr_connect: unp_connect,
  pr_connect2: unp_connect2,
  pr_disconnect: unp_disconnect1,
  pr_shutdown: unp_shutdown1,
  pr_abort: unp_abort,
  pr_ioctl: () => EOPNOTSUPP,
  pr_stat: unp_stat,
  pr_peeraddr: unp_peeraddr,
  pr_sockaddr: unp_sockaddr,
  pr_rcvd: unp_rcvd,
  pr_recvoob: () => EOPNOTSUPP,
  pr_send: unp_send,
  pr_sendoob: unp_sendoob,
  pr_purgeif: () => EOPNOTSUPP,
});

/**
 * The PF_LOCAL domain with its three protocols (NetBSD's unixdomain and
 * unixsw), made per kernel since a Domain is linked into one kernel's list.
 * The protocol number is PF_LOCAL, as NetBSD's, so socket(PF_LOCAL, type,
 * 0 or PF_LOCAL) both work.  No PR_RIGHTS: descriptors cannot be passed.
 */
export function localdomain_create(): Domain {
  const dom = new Domain(PF_LOCAL, 'local', SOCKADDR_UN_LEN);
  const sw = (pr_type: number, pr_flags: number): Protosw => ({
    pr_type, pr_domain: dom, pr_protocol: PF_LOCAL, pr_flags, pr_usrreqs: unp_usrreqs, pr_ctloutput: uipc_ctloutput,
  });
  dom.dom_protosw.push(
    sw(SOCK_STREAM, PR_CONNREQUIRED | PR_WANTRCVD | PR_LISTEN),
    sw(SOCK_DGRAM, PR_ATOMIC | PR_ADDR),
    sw(SOCK_SEQPACKET, PR_ATOMIC | PR_CONNREQUIRED | PR_WANTRCVD | PR_LISTEN),
  );
  return dom;
}

/** uipc_init: the kernel's local-domain state. */
export function uipc_init(k: Kernel): LocalState {
  const ls: LocalState = {
    unp_names: new Map(),
    unpst_sendspace: UNPST_SENDSPACE,
    unpst_recvspace: UNPST_RECVSPACE,
    unpdg_sendspace: UNPDG_SENDSPACE,
    unpdg_recvspace: UNPDG_RECVSPACE,
  };
  k.local = ls;
  return ls;
}

/**
 * sysctl_net_local_setup: net.local.stream.{sendspace,recvspace} and
 * net.local.dgram.{sendspace,recvspace} (net.local is PF_LOCAL, the
 * middle level the socket type, as NetBSD numbers them).
 */
export function sysctl_net_local_setup(k: Kernel, ls: LocalState): void {
  const sc = k.sysctl;
  const must = (r: { error: number }, what: string): void => {
    if (r.error !== 0) throw new Error(`sysctl ${what}: errno ${r.error}`);
  };
  must(sc.sysctl_createv('net', { name: 'local', num: PF_LOCAL, type: CTLTYPE_NODE, description: 'PF_LOCAL related settings' }), 'net.local');
  const leaf = (dir: string, name: 'sendspace' | 'recvspace', key: keyof Omit<LocalState, 'unp_names'>, description: string): void => {
    must(sc.sysctl_createv(`net.local.${dir}`, {
      name, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE, description,
      get: () => ls[key],
      /* soreserve refuses more than kern.sbmax allows: socket() then fails with ENOBUFS, as NetBSD. */
      validate: (v: number) => (v < 1 ? EINVAL : 0),
      set: (v: number) => { ls[key] = v; return 0; },
    }), `net.local.${dir}.${name}`);
  };
  must(sc.sysctl_createv('net.local', { name: 'stream', num: SOCK_STREAM, type: CTLTYPE_NODE, description: 'SOCK_STREAM settings' }), 'net.local.stream');
  leaf('stream', 'sendspace', 'unpst_sendspace', 'Default stream send space');
  leaf('stream', 'recvspace', 'unpst_recvspace', 'Default stream recv space');
  must(sc.sysctl_createv('net.local', { name: 'dgram', num: SOCK_DGRAM, type: CTLTYPE_NODE, description: 'SOCK_DGRAM settings' }), 'net.local.dgram');
  leaf('dgram', 'sendspace', 'unpdg_sendspace', 'Default datagram send space');
  leaf('dgram', 'recvspace', 'unpdg_recvspace', 'Default datagram recv space');
}
