/*
 * in_pcb.ts: Internet protocol control blocks (NetBSD's netinet/in_pcb.c
 * and in_pcb.h, with the port selection of portalgo.c).
 *
 * Place in the packet path: the demultiplexer between IP and sockets.
 * udp_input() finds the socket of an arriving datagram with
 * in_pcblookup_connect() (the exact 4-tuple of a connected socket) and
 * then in_pcblookup_bind() (a socket bound to the address or to the
 * wildcard); raw_ip.ts walks its table.  On the way down, bind(2) and
 * connect(2) land in in_pcbbind()/in_pcbconnect(), which enforce the
 * EADDRINUSE rules and choose ephemeral ports.  TCP (a later issue) uses
 * the same table type and lookups.
 *
 * A PCB is in a table's port hash once it has a local port (every bound
 * PCB, connected or not: in_pcblookup_port() scans it for bind conflicts)
 * and, once connected, in the connect hash keyed by the 4-tuple.  Buckets
 * are arrays in Maps keyed by numbers, so a lookup computes a number,
 * reads a bucket and compares fields: nothing is allocated per packet.
 *
 * Port selection (NetBSD portalgo "random_start"): an ephemeral port
 * starts at a uniformly random point of net.inet.ip.anonportmin..
 * anonportmax (or lowportmin..lowportmax for IP_PORTRANGE_LOW) and walks
 * up, wrapping, to the first port no socket holds; every port of the
 * range is tried before EAGAIN.
 */

import type { Lwp } from '../../../librump/rumpkern/lwproc.ts';
import type { Socket } from '../../../librump/rumpnet/socketvar.ts';
import type { SockaddrBuf } from '../../../librump/rumpnet/uipc_domain.ts';
import { sockaddr_in } from '../../../librump/rumpnet/sockaddr.ts';
import type { Ifnet } from '../libnet/if.ts';
import type { Rtentry } from '../libnet/route.ts';
import { EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, EAGAIN, EINVAL } from '../../../include/errno.ts';
import { AF_INET, SO_REUSEADDR, SO_REUSEPORT } from '../../../include/socket.ts';
import { IFF_BROADCAST } from '../../../include/if.ts';
import { IN_MULTICAST, INADDR_ANY, INADDR_BROADCAST, in_addr_read } from './in.ts';
import { in_ifwithaddr, in_selectsrc, inet_of, rt_of, type InetState } from './in_var.ts';

/* inp_state */
export const INP_ATTACHED = 0;
export const INP_BOUND = 1;
export const INP_CONNECTED = 2;

/* inp_flags (netinet/in_pcb.h). */
export const INP_RECVOPTS = 0x0001;
export const INP_RECVRETOPTS = 0x0002;
export const INP_RECVDSTADDR = 0x0004;
/** Raw socket: the user supplies the IP header (IP_HDRINCL). */
export const INP_HDRINCL = 0x0008;
export const INP_HIGHPORT = 0x0010;
/** IP_PORTRANGE_LOW: ephemeral ports from lowportmin..lowportmax. */
export const INP_LOWPORT = 0x0020;
/** The local port was chosen by the kernel. */
export const INP_ANONPORT = 0x0040;
export const INP_RECVIF = 0x0080;
export const INP_MTUDISC = 0x0100;

/** sizeof(struct sockaddr_in). */
const SIN_LEN = 16;

/** An Internet protocol control block (struct inpcb). */
export class Inpcb {
  inp_laddr = INADDR_ANY;
  inp_lport = 0;
  inp_faddr = INADDR_ANY;
  inp_fport = 0;
  inp_state = INP_ATTACHED;
  inp_flags = 0;
  /** The header template: TTL, TOS, and (raw sockets) the protocol. */
  inp_ip_ttl: number;
  inp_ip_tos = 0;
  inp_ip_p = 0;
  /** IP_ERRORMTU: the MTU of the last EMSGSIZE. */
  inp_errormtu = -1;
  /* The route cache (NetBSD's inp_route): entry, its destination and the table generation seen. */
  inp_route: Rtentry | null = null;
  inp_route_dst = 0;
  inp_route_gen = -1;
  /* Where this PCB sits in its table's queue and buckets, for O(1) removal. */
  inp_queueidx = -1;
  inp_portbucket: Inpcb[] | null = null;
  inp_portkey = 0;
  inp_portidx = -1;
  inp_bindbucket: Inpcb[] | null = null;
  inp_bindidx = -1;
  inp_connbucket: Inpcb[] | null = null;
  inp_connkey = 0;
  inp_connidx = -1;
  /** The protocol's control block (TCP's tcpcb), NetBSD's inp_ppcb. */
  inp_ppcb: unknown = null;

  constructor(readonly inp_socket: Socket, readonly inp_table: Inpcbtable, ttl: number) {
    this.inp_ip_ttl = ttl;
  }
}

/**
 * How a table consults entries that stand for PCBs without being PCBs
 * (NetBSD's vestigial_hooks_t): TCP's Vestigial Time-Wait installs them.
 */
export interface VestigeHooks {
  /** A vestige holds exactly this 4-tuple (connect(): EADDRINUSE). */
  connect_in_use(faddr: number, fport: number, laddr: number, lport: number): boolean;
  /** A vestige holds lport on an address overlapping laddr, for a bind or port choice with a wildcard lookup. */
  port_in_use(laddr: number, lport: number, wild: boolean): boolean;
}

/** A table of PCBs (struct inpcbtable): UDP's udbtable, raw IP's rawcbtable, TCP's tcbtable. */
export class Inpcbtable {
  /** Vestigial PCBs (TCP's VTW), or null. */
  inpt_vestige: VestigeHooks | null = null;
  /**
   * Every PCB.  A PCB leaving swaps the last one into its place, so the
   * order is creation order only until the first removal; a server with
   * 100,000 connections must not pay a linear scan per close.
   */
  readonly inpt_queue: Inpcb[] = [];
  /** PCBs with a local port, connected or not, by that port (bind conflicts). */
  readonly inpt_porthash = new Map<number, Inpcb[]>();
  /** Bound PCBs that are not connected (listeners, UDP sockets), by local port: input finds them without walking connections. */
  readonly inpt_bindhash = new Map<number, Inpcb[]>();
  /** Connected PCBs, by a hash of the 4-tuple. */
  readonly inpt_connecthash = new Map<number, Inpcb[]>();

  constructor(readonly inpt_st: InetState, readonly inpt_name: string) {}
}

/** The connect-hash key of a 4-tuple (collisions are resolved by comparing fields). */
function connhash(faddr: number, fport: number, laddr: number, lport: number): number {
  return (faddr ^ laddr ^ ((fport << 16) | lport)) >>> 0;
}

/*
 * Buckets are arrays; each PCB remembers its index in each, and removal
 * swaps the bucket's last PCB into the hole (O(1)).  Which index field a
 * bucket uses is passed as a small selector to keep this allocation-free.
 */
const B_PORT = 0;
const B_BIND = 1;
const B_CONN = 2;

function idx_get(inp: Inpcb, which: number): number {
  return which === B_PORT ? inp.inp_portidx : which === B_BIND ? inp.inp_bindidx : inp.inp_connidx;
}

function idx_set(inp: Inpcb, which: number, i: number): void {
  if (which === B_PORT) inp.inp_portidx = i;
  else if (which === B_BIND) inp.inp_bindidx = i;
  else inp.inp_connidx = i;
}

function bucket_add(map: Map<number, Inpcb[]>, key: number, inp: Inpcb, which: number): Inpcb[] {
  let b = map.get(key);
  if (b === undefined) {
    b = [];
    map.set(key, b);
  }
  idx_set(inp, which, b.length);
  b.push(inp);
  return b;
}

function bucket_remove(map: Map<number, Inpcb[]>, b: Inpcb[] | null, inp: Inpcb, key: number, which: number): void {
  if (b === null) return;
  const i = idx_get(inp, which);
  if (i >= 0 && b[i] === inp) {
    const last = b.pop()!;
    if (last !== inp) {
      b[i] = last;
      idx_set(last, which, i);
    }
  }
  idx_set(inp, which, -1);
  if (b.length === 0 && map.get(key) === b) map.delete(key);
}

/** Put inp in the hashes its state and addresses call for (in_pcbstate). */
function in_pcbrehash(inp: Inpcb): void {
  const t = inp.inp_table;
  if (inp.inp_portbucket !== null) {
    bucket_remove(t.inpt_porthash, inp.inp_portbucket, inp, inp.inp_portkey, B_PORT);
    inp.inp_portbucket = null;
  }
  if (inp.inp_bindbucket !== null) {
    bucket_remove(t.inpt_bindhash, inp.inp_bindbucket, inp, inp.inp_portkey, B_BIND);
    inp.inp_bindbucket = null;
  }
  if (inp.inp_connbucket !== null) {
    bucket_remove(t.inpt_connecthash, inp.inp_connbucket, inp, inp.inp_connkey, B_CONN);
    inp.inp_connbucket = null;
  }
  if (inp.inp_state >= INP_BOUND && inp.inp_lport !== 0) {
    inp.inp_portkey = inp.inp_lport;
    inp.inp_portbucket = bucket_add(t.inpt_porthash, inp.inp_portkey, inp, B_PORT);
    if (inp.inp_state !== INP_CONNECTED) inp.inp_bindbucket = bucket_add(t.inpt_bindhash, inp.inp_portkey, inp, B_BIND);
  }
  if (inp.inp_state === INP_CONNECTED) {
    inp.inp_connkey = connhash(inp.inp_faddr, inp.inp_fport, inp.inp_laddr, inp.inp_lport);
    inp.inp_connbucket = bucket_add(t.inpt_connecthash, inp.inp_connkey, inp, B_CONN);
  }
}

/** in_pcballoc: a PCB for a new socket, in table. */
export function in_pcballoc(so: Socket, table: Inpcbtable): Inpcb {
  const inp = new Inpcb(so, table, table.inpt_st.ip_defttl);
  inp.inp_queueidx = table.inpt_queue.length;
  table.inpt_queue.push(inp);
  so.so_pcb = inp;
  return inp;
}

/** The socket's PCB, or null once detached. */
export function sotoinpcb(so: Socket): Inpcb | null {
  return so.so_pcb instanceof Inpcb ? so.so_pcb : null;
}

/** Drop the cached route (it is looked up again on the next send). */
export function in_pcbrtflush(inp: Inpcb): void {
  const rt = inp.inp_route;
  if (rt !== null) {
    rt_of(inp.inp_table.inpt_st.k).rt_unref(rt);
    inp.inp_route = null;
    inp.inp_route_gen = -1;
  }
}

/**
 * in_pcbrtentry: the route to dst, from the PCB's cache while the table has
 * not changed (rt_gen) and dst is the same, else looked up and cached (the
 * cache holds a reference, shown as Refs by netstat -rn).  Null: no route.
 */
export function in_pcbrtentry(inp: Inpcb, dst: number): Rtentry | null {
  const table = rt_of(inp.inp_table.inpt_st.k);
  const rt = inp.inp_route;
  if (rt !== null && inp.inp_route_gen === table.rt_gen && inp.inp_route_dst === dst) return rt;
  in_pcbrtflush(inp);
  const n = table.rtalloc1(dst);
  if (n !== null) {
    table.rt_ref(n);
    inp.inp_route = n;
    inp.inp_route_dst = dst;
    inp.inp_route_gen = table.rt_gen;
  }
  return n;
}

/**
 * in_pcbdetach: the socket is going away; forget its PCB.  (The socket
 * layer frees the socket itself once it has no descriptor.)
 */
export function in_pcbdetach(inp: Inpcb): void {
  const t = inp.inp_table;
  inp.inp_state = INP_ATTACHED;
  inp.inp_lport = 0;
  in_pcbrehash(inp);
  in_pcbrtflush(inp);
  const q = t.inpt_queue;
  const i = inp.inp_queueidx;
  if (i >= 0 && q[i] === inp) {
    const last = q.pop()!;
    if (last !== inp) {
      q[i] = last;
      last.inp_queueidx = i;
    }
  }
  inp.inp_queueidx = -1;
  if (inp.inp_socket.so_pcb === inp) inp.inp_socket.so_pcb = null;
}

/* -------------------------------------------------------------- lookups */

/**
 * in_pcblookup_port: the best PCB holding local port lport for a bind to
 * laddr (NetBSD's best-fit search).  Each PCB scores a "wildcard" count:
 * one if it is connected, one if exactly one of its and laddr's addresses
 * is the wildcard; different specific addresses never match.  An exact
 * match (count 0) wins at once; with lookup_wildcard false only exact
 * matches count.
 */
export function in_pcblookup_port(table: Inpcbtable, laddr: number, lport: number, lookup_wildcard: boolean): Inpcb | null {
  const b = table.inpt_porthash.get(lport);
  if (b === undefined) return null;
  let match: Inpcb | null = null;
  let matchwild = 3;
  for (let i = 0; i < b.length; i++) {
    const inp = b[i]!;
    if (inp.inp_lport !== lport) continue;
    let wildcard = 0;
    if (inp.inp_faddr !== INADDR_ANY) wildcard++;
    if (inp.inp_laddr === INADDR_ANY) {
      if (laddr !== INADDR_ANY) wildcard++;
    } else if (laddr === INADDR_ANY) {
      wildcard++;
    } else if (inp.inp_laddr !== laddr) {
      continue;
    }
    if (wildcard !== 0 && !lookup_wildcard) continue;
    if (wildcard < matchwild) {
      match = inp;
      matchwild = wildcard;
      if (matchwild === 0) break;
    }
  }
  return match;
}

/** in_pcblookup_connect: the connected PCB with exactly this 4-tuple, or null. */
export function in_pcblookup_connect(table: Inpcbtable, faddr: number, fport: number, laddr: number, lport: number): Inpcb | null {
  const b = table.inpt_connecthash.get(connhash(faddr, fport, laddr, lport));
  if (b === undefined) return null;
  for (let i = 0; i < b.length; i++) {
    const inp = b[i]!;
    if (inp.inp_faddr === faddr && inp.inp_fport === fport && inp.inp_laddr === laddr && inp.inp_lport === lport) return inp;
  }
  return null;
}

/**
 * in_pcblookup_bind: an unconnected PCB listening on lport: bound to laddr
 * itself first, else to the wildcard address.
 */
export function in_pcblookup_bind(table: Inpcbtable, laddr: number, lport: number): Inpcb | null {
  const b = table.inpt_bindhash.get(lport);
  if (b === undefined) return null;
  let wild: Inpcb | null = null;
  for (let i = 0; i < b.length; i++) {
    const inp = b[i]!;
    if (inp.inp_state === INP_CONNECTED || inp.inp_lport !== lport) continue;
    if (inp.inp_laddr === laddr) return inp;
    if (inp.inp_laddr === INADDR_ANY && wild === null) wild = inp;
  }
  return wild;
}

/* ------------------------------------------------------- bind / connect */

/* A sockaddr_in's fields, read in place (no object per call). */
/** sin_ok: 0 if nam is a well-formed sockaddr_in, else EAFNOSUPPORT or EINVAL. */
export function sin_ok(nam: Uint8Array): number {
  if (nam.length < 2) return EINVAL;
  if (nam[1] !== AF_INET) return EAFNOSUPPORT;
  if (nam.length < SIN_LEN || nam[0]! < 8) return EINVAL;
  return 0;
}
/** The port of a checked sockaddr_in. */
export function sin_port(nam: Uint8Array): number {
  return (nam[2]! << 8) | nam[3]!;
}
/** The address of a checked sockaddr_in. */
export function sin_addr(nam: Uint8Array): number {
  return in_addr_read(nam, 4);
}

/**
 * in_pcbsetport: choose an ephemeral port for inp bound to laddr (portalgo
 * random_start; see the file comment).  EAGAIN when every port is taken.
 */
export function in_pcbsetport(inp: Inpcb, laddr: number): number {
  const st = inp.inp_table.inpt_st;
  let min: number;
  let max: number;
  if ((inp.inp_flags & INP_LOWPORT) !== 0) {
    min = st.lowportmin;
    max = st.lowportmax;
  } else {
    min = st.anonportmin;
    max = st.anonportmax;
  }
  if (min > max) {
    const t = min;
    min = max;
    max = t;
  }
  const n = max - min + 1;
  const start = st.k.cprng.cprng_uniform32(n);
  for (let i = 0; i < n; i++) {
    const port = min + ((start + i) % n);
    if (in_pcblookup_port(inp.inp_table, laddr, port, true) !== null) continue;
    const v = inp.inp_table.inpt_vestige;
    if (v !== null && v.port_in_use(laddr, port, true)) continue;
    inp.inp_lport = port;
    inp.inp_flags |= INP_ANONPORT;
    return 0;
  }
  return EAGAIN;
}

/**
 * in_pcbbind: bind(2) for AF_INET (nam null: an ephemeral port on the
 * wildcard address).  The address must be one of this host's (or a
 * broadcast address of one of its interfaces, or multicast), else
 * EADDRNOTAVAIL.  For a given port, as NetBSD's in_pcbbind_port:
 *   - a socket with neither SO_REUSEADDR nor SO_REUSEPORT conflicts with
 *     any socket on the port whose address overlaps (equal, or either is
 *     the wildcard): EADDRINUSE;
 *   - with SO_REUSEADDR or SO_REUSEPORT only a socket on exactly the same
 *     address conflicts, unless both sockets set SO_REUSEPORT;
 *   - for a multicast address SO_REUSEADDR counts as SO_REUSEPORT.
 * Every rump client is root, so reserved ports need no further check.
 */
export function in_pcbbind(inp: Inpcb, nam: Uint8Array | null, _l: Lwp | null): number {
  const st = inp.inp_table.inpt_st;
  const so = inp.inp_socket;
  if (st.in_ifaddrhead.length === 0) return EADDRNOTAVAIL;
  if (inp.inp_lport !== 0 || inp.inp_laddr !== INADDR_ANY) return EINVAL;
  let laddr = INADDR_ANY;
  let lport = 0;
  if (nam !== null) {
    const e = sin_ok(nam);
    if (e !== 0) return e;
    if (nam[0] !== SIN_LEN) return EINVAL;
    laddr = sin_addr(nam);
    lport = sin_port(nam);
  }
  let reuseport = so.so_options & SO_REUSEPORT;
  if (IN_MULTICAST(laddr)) {
    if ((so.so_options & (SO_REUSEADDR | SO_REUSEPORT)) !== 0) reuseport = SO_REUSEADDR | SO_REUSEPORT;
  } else if (laddr !== INADDR_ANY && in_ifwithaddr(st, laddr) === null) {
    return EADDRNOTAVAIL;
  }
  if (lport === 0) {
    const e = in_pcbsetport(inp, laddr);
    if (e !== 0) return e;
  } else {
    const wild = (so.so_options & (SO_REUSEADDR | SO_REUSEPORT)) === 0;
    const t = in_pcblookup_port(inp.inp_table, laddr, lport, wild);
    if (t !== null && (reuseport & t.inp_socket.so_options) === 0) return EADDRINUSE;
    /* A vestige is found only by a wildcard lookup: either reuse option bypasses it (NetBSD's in_pcbbind_port). */
    const v = inp.inp_table.inpt_vestige;
    if (t === null && v !== null && v.port_in_use(laddr, lport, wild)) return EADDRINUSE;
    inp.inp_lport = lport;
  }
  inp.inp_laddr = laddr;
  inp.inp_state = INP_BOUND;
  in_pcbrehash(inp);
  return 0;
}

/**
 * in_pcbconnect: give inp a peer (connect(2); UDP's sendto works without
 * one).  Port 0 is EADDRNOTAVAIL.  With addresses configured, INADDR_ANY
 * means the primary (first) address and INADDR_BROADCAST the broadcast
 * address of the primary interface, as NetBSD does.  An unbound socket gets
 * its source from the route (in_selectsrc: ENETUNREACH without one) and an
 * ephemeral port; the same 4-tuple twice is EADDRINUSE.
 */
export function in_pcbconnect(inp: Inpcb, nam: Uint8Array, l: Lwp | null): number {
  const st = inp.inp_table.inpt_st;
  const e = sin_ok(nam);
  if (e !== 0) return e;
  if (nam[0] !== SIN_LEN) return EINVAL;
  const fport = sin_port(nam);
  let faddr = sin_addr(nam);
  if (fport === 0) return EADDRNOTAVAIL;
  const primary = st.in_ifaddrhead[0];
  if (primary !== undefined) {
    if (faddr === INADDR_ANY) faddr = primary.ia_addr;
    else if (faddr === INADDR_BROADCAST && (primary.ifa_ifp.if_flags & IFF_BROADCAST) !== 0) faddr = primary.ia_broadaddr;
  }
  let laddr = inp.inp_laddr;
  if (laddr === INADDR_ANY) {
    const r = in_selectsrc(st, faddr);
    if (r < 0) return -r;
    laddr = r;
  }
  if (in_pcblookup_connect(inp.inp_table, faddr, fport, laddr, inp.inp_lport) !== null) return EADDRINUSE;
  const v = inp.inp_table.inpt_vestige;
  if (v !== null && inp.inp_lport !== 0 && v.connect_in_use(faddr, fport, laddr, inp.inp_lport)) return EADDRINUSE;
  if (inp.inp_laddr === INADDR_ANY) {
    if (inp.inp_lport === 0) {
      const e2 = in_pcbbind(inp, null, l);
      if (e2 !== 0) return e2;
    }
    inp.inp_laddr = laddr;
  }
  inp.inp_faddr = faddr;
  inp.inp_fport = fport;
  inp.inp_state = INP_CONNECTED;
  in_pcbrehash(inp);
  return 0;
}

/**
 * in_pcbsetaddrs: give a PCB made for an arriving connection (TCP's
 * passive open) the listener's local port and both addresses at once.
 * The listener holds the port, so the bind rules do not apply; the caller
 * has checked that no PCB has the 4-tuple.
 */
export function in_pcbsetaddrs(inp: Inpcb, laddr: number, lport: number, faddr: number, fport: number): void {
  inp.inp_laddr = laddr;
  inp.inp_lport = lport;
  inp.inp_faddr = faddr;
  inp.inp_fport = fport;
  inp.inp_state = INP_CONNECTED;
  in_pcbrehash(inp);
}

/** in_pcbdisconnect: forget the peer; the socket stays bound. */
export function in_pcbdisconnect(inp: Inpcb): void {
  inp.inp_faddr = INADDR_ANY;
  inp.inp_fport = 0;
  inp.inp_state = inp.inp_lport !== 0 || inp.inp_laddr !== INADDR_ANY ? INP_BOUND : INP_ATTACHED;
  in_pcbrehash(inp);
  in_pcbrtflush(inp);
}

/** Clear the local address a connect chose (UDP's disconnect unbinds the address, not the port). */
export function in_pcbsetladdr(inp: Inpcb, laddr: number): void {
  inp.inp_laddr = laddr;
  in_pcbrehash(inp);
}

/** getsockname(2). */
export function in_setsockaddr(inp: Inpcb, nam: SockaddrBuf): void {
  nam.sa = sockaddr_in(inp.inp_laddr, inp.inp_lport);
}

/** getpeername(2). */
export function in_setpeeraddr(inp: Inpcb, nam: SockaddrBuf): void {
  nam.sa = sockaddr_in(inp.inp_faddr, inp.inp_fport);
}

/** pr_sockaddr of every inet protocol: the PCB's local address. */
export function in_pcb_sockaddr(so: Socket, nam: SockaddrBuf): number {
  const inp = sotoinpcb(so);
  if (inp === null) return EINVAL;
  in_setsockaddr(inp, nam);
  return 0;
}

/** pr_peeraddr of every inet protocol: the PCB's foreign address. */
export function in_pcb_peeraddr(so: Socket, nam: SockaddrBuf): number {
  const inp = sotoinpcb(so);
  if (inp === null) return EINVAL;
  in_setpeeraddr(inp, nam);
  return 0;
}

/* ------------------------------------------------------- notifications */

export type InpNotify = (inp: Inpcb, errno: number) => void;

/**
 * in_pcbnotify: tell the connected PCB with this 4-tuple about an error
 * (an ICMP message quoting a datagram it sent).  Unconnected sockets are
 * never told: there is no peer to blame (RFC 1122 4.1.3.3 leaves UDP
 * errors to the application that connected).  Returns the matches.
 */
export function in_pcbnotify(table: Inpcbtable, faddr: number, fport: number, laddr: number, lport: number,
  errno: number, notify: InpNotify): number {
  if (faddr === INADDR_ANY) return 0;
  const inp = in_pcblookup_connect(table, faddr, fport, laddr, lport);
  if (inp === null) return 0;
  notify(inp, errno);
  return 1;
}

/** in_pcbnotifyall: every PCB whose peer is faddr. */
export function in_pcbnotifyall(table: Inpcbtable, faddr: number, errno: number, notify: InpNotify): void {
  if (faddr === INADDR_ANY) return;
  const q = table.inpt_queue.slice();
  for (let i = 0; i < q.length; i++) if (q[i]!.inp_faddr === faddr) notify(q[i]!, errno);
}

/** in_rtchange: a route changed under the PCB; look it up again on the next send. */
export function in_rtchange(inp: Inpcb, _errno: number): void {
  in_pcbrtflush(inp);
}

/** in_pcbpurgeif0: ifp is going away; drop cached routes through it. */
export function in_pcbpurgeif(table: Inpcbtable, ifp: Ifnet): void {
  const q = table.inpt_queue;
  for (let i = 0; i < q.length; i++) {
    const rt = q[i]!.inp_route;
    if (rt !== null && rt.rt_ifp === ifp) in_pcbrtflush(q[i]!);
  }
}

/** The inet state a socket's kernel has (for the usrreqs). */
export function so_inet(so: Socket): InetState {
  return inet_of(so.so_kernel);
}
