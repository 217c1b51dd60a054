/*
 * Domains and protocol switches (NetBSD's sys/kern/uipc_domain.c,
 * sys/protosw.h, sys/domain.h).
 *
 * A domain (PF_LOCAL, PF_INET, ...) lists its protocols; each protosw
 * carries the user requests the socket layer calls (pr_usrreqs, split the
 * way NetBSD 7 split pr_usrreq) and, for network protocols, the input and
 * control-input entry points that IP demultiplexes to.  The socket layer
 * never knows a protocol except through this table.
 */

import type { Kernel } from '../rumpkern/rump.ts';
import type { Lwp } from '../rumpkern/lwproc.ts';
import type { Socket } from './socketvar.ts';
import type { Mbuf } from './uipc_mbuf.ts';
import type { Stat } from '../../include/syscall.ts';
import { SOCK_RAW } from '../../include/socket.ts';

/* pr_flags */
export const PR_ATOMIC = 0x01;
export const PR_ADDR = 0x02;
export const PR_CONNREQUIRED = 0x04;
export const PR_WANTRCVD = 0x08;
export const PR_RIGHTS = 0x10;
export const PR_LISTEN = 0x20;
export const PR_LASTHDR = 0x40;
export const PR_ABRTACPTDIS = 0x80;
export const PR_PURGEIF = 0x100;

/* pr_ctloutput ops */
export const PRCO_GETOPT = 0;
export const PRCO_SETOPT = 1;

/** A socket option request: level, name and a typed value in or out. */
export interface Sockopt {
  sopt_level: number;
  sopt_name: number;
  /** The value to set, or where getsockopt leaves its answer. */
  sopt_value: unknown;
}

/**
 * The user requests of a protocol.  Each returns an errno.  pr_send takes
 * ownership of the mbuf chain (and control) whatever it returns.  pr_bind
 * and pr_listen may sleep (return a promise), as they may in NetBSD: a
 * protocol over host sockets (libsockin) must wait for the host's bind.
 */
export interface PrUsrreqs {
  pr_attach(so: Socket, proto: number, l: Lwp): number;
  pr_detach(so: Socket): void;
  pr_accept(so: Socket, nam: SockaddrBuf): number;
  pr_bind(so: Socket, nam: Uint8Array, l: Lwp): number | Promise<number>;
  pr_listen(so: Socket, l: Lwp): number | Promise<number>;
  pr_connect(so: Socket, nam: Uint8Array, l: Lwp): number;
  pr_connect2(so: Socket, so2: Socket): number;
  pr_disconnect(so: Socket): number;
  pr_shutdown(so: Socket): number;
  pr_abort(so: Socket): number;
  pr_ioctl(so: Socket, cmd: number, data: { value?: unknown }, l: Lwp): number | Promise<number>;
  pr_stat(so: Socket, st: Stat): number;
  pr_peeraddr(so: Socket, nam: SockaddrBuf): number;
  pr_sockaddr(so: Socket, nam: SockaddrBuf): number;
  pr_rcvd(so: Socket, flags: number, l: Lwp): number;
  pr_recvoob(so: Socket, m: Mbuf, flags: number): number;
  pr_send(so: Socket, m: Mbuf, nam: Uint8Array | null, control: Mbuf | null, l: Lwp): number;
  pr_sendoob(so: Socket, m: Mbuf, control: Mbuf | null): number;
  pr_purgeif(so: Socket, ifindex: number): number;
}

/** Where pr_sockaddr/pr_peeraddr/pr_accept leave an address (struct sockaddr bytes). */
export interface SockaddrBuf {
  sa: Uint8Array | null;
}

export interface Protosw {
  readonly pr_type: number;
  readonly pr_domain: Domain;
  readonly pr_protocol: number;
  readonly pr_flags: number;
  readonly pr_usrreqs: PrUsrreqs | null;
  /** Packet input from the layer below (IP's demux); takes ownership of m. */
  pr_input?(m: Mbuf, off: number, proto: number): void;
  /** Control input (ICMP errors reported up). */
  pr_ctlinput?(cmd: number, sa: Uint8Array, ctx: unknown): void;
  /** Protocol-level socket options. */
  pr_ctloutput?(op: number, so: Socket, sopt: Sockopt): number;
  pr_init?(k: Kernel): void;
}

export class Domain {
  readonly dom_protosw: Protosw[] = [];
  constructor(
    readonly dom_family: number,
    readonly dom_name: string,
    /** Largest sockaddr of the family, for validation. */
    readonly dom_salen: number,
  ) {}
}

/** The kernel's domain list (domaininit/domain_attach). */
export class Domains {
  readonly list: Domain[] = [];

  domain_attach(k: Kernel, dom: Domain): void {
    if (this.pffinddomain(dom.dom_family) !== null) {
      throw new Error(`domain_attach: family ${dom.dom_family} (${dom.dom_name}) attached twice`);
    }
    this.list.push(dom);
    for (const pr of dom.dom_protosw) pr.pr_init?.(k);
  }

  pffinddomain(family: number): Domain | null {
    for (const d of this.list) if (d.dom_family === family) return d;
    return null;
  }

  /** The first protocol of the family with this socket type. */
  pffindtype(family: number, type: number): Protosw | null {
    const d = this.pffinddomain(family);
    if (d === null) return null;
    for (const pr of d.dom_protosw) if (pr.pr_type === type && pr.pr_usrreqs !== null) return pr;
    return null;
  }

  /** The protocol of the family with this number (and type, if raw wildcards exist). */
  pffindproto(family: number, protocol: number, type: number): Protosw | null {
    const d = this.pffinddomain(family);
    if (d === null) return null;
    let maybe: Protosw | null = null;
    for (const pr of d.dom_protosw) {
      if (pr.pr_usrreqs === null) continue;
      if (pr.pr_protocol === protocol && pr.pr_type === type) return pr;
      /* A raw protocol with number 0 takes any protocol (raw IP); only SOCK_RAW, as NetBSD. */
      if (type === SOCK_RAW && pr.pr_type === SOCK_RAW && pr.pr_protocol === 0 && maybe === null) maybe = pr;
    }
    return maybe;
  }
}
