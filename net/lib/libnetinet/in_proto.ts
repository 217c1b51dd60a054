/*
 * in_proto.ts: the Internet domain and its protocol switch (NetBSD's
 * netinet/in_proto.c): inetsw, and ip_protox, the index ip_input uses to
 * find a protocol's pr_input from the ip_p of a datagram.
 *
 * Place in the packet path: ip_input -> inetsw[ip_protox[ip_p]].pr_input,
 * icmp_input -> inetsw[ip_protox[quoted ip_p]].pr_ctlinput, and socket(2)
 * -> pffindproto/pffindtype over dom_protosw.
 *
 * The table, in NetBSD's order:
 *   IP        no user requests; the domain's own entry
 *   UDP       SOCK_DGRAM  17   udp_input   udp_ctlinput  udp_usrreqs
 *   TCP       SOCK_STREAM  6   tcp_input   tcp_ctlinput  tcp_usrreqs
 *             (pr_init = tcp_init makes the kernel's TCP state)
 *   raw IP    SOCK_RAW   255   rip_input   rip_ctlinput  rip_usrreqs
 *   ICMP      SOCK_RAW     1   icmp_input  rip_ctlinput  rip_usrreqs
 *   raw       SOCK_RAW     0   rip_input   (the wildcard: every protocol
 *             without an entry of its own lands here, and a raw socket of
 *             any protocol number attaches through it)
 * The entries are made per kernel (each Domain belongs to one kernel);
 * their functions are the module's, shared and stateless.
 */

import {
  Domain, PR_ABRTACPTDIS, PR_ADDR, PR_ATOMIC, PR_CONNREQUIRED, PR_LASTHDR, PR_LISTEN, PR_PURGEIF, PR_WANTRCVD,
  type Protosw,
} from '../../../librump/rumpnet/uipc_domain.ts';
import { AF_INET, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM } from '../../../include/socket.ts';
import { IPPROTO_ICMP, IPPROTO_IP, IPPROTO_RAW, IPPROTO_TCP, IPPROTO_UDP } from './in.ts';
import type { InetState } from './in_var.ts';
import { udp_ctlinput, udp_ctloutput, udp_input, udp_usrreqs } from './udp_usrreq.ts';
import { rip_ctlinput, rip_ctloutput, rip_input, rip_usrreqs } from './raw_ip.ts';
import { icmp_input } from './ip_icmp_input.ts';
import { tcp_input } from './tcp_input.ts';
import { tcp_ctlinput, tcp_init } from './tcp_subr.ts';
import { tcp_ctloutput, tcp_usrreqs } from './tcp_usrreq.ts';

/** sizeof(struct sockaddr_in): the domain's largest address. */
const SOCKADDR_IN_LEN = 16;

/**
 * in_domain_create: the PF_INET domain of one kernel, its inetsw and
 * ip_protox filled in st (NetBSD's inetdomain and ip_init).
 */
export function in_domain_create(st: InetState): Domain {
  const dom = new Domain(AF_INET, 'internet', SOCKADDR_IN_LEN);
  const ip: Protosw = {
    pr_type: 0, pr_domain: dom, pr_protocol: IPPROTO_IP, pr_flags: 0, pr_usrreqs: null,
  };
  const udp: Protosw = {
    pr_type: SOCK_DGRAM, pr_domain: dom, pr_protocol: IPPROTO_UDP, pr_flags: PR_ATOMIC | PR_ADDR | PR_PURGEIF,
    pr_usrreqs: udp_usrreqs, pr_input: udp_input, pr_ctlinput: udp_ctlinput, pr_ctloutput: udp_ctloutput,
  };
  /* NetBSD's TCP entry: a connection-oriented stream that wants pr_rcvd and aborts accepts of dead connections. */
  const tcp: Protosw = {
    pr_type: SOCK_STREAM, pr_domain: dom, pr_protocol: IPPROTO_TCP,
    pr_flags: PR_CONNREQUIRED | PR_WANTRCVD | PR_LISTEN | PR_ABRTACPTDIS | PR_PURGEIF,
    pr_usrreqs: tcp_usrreqs, pr_input: tcp_input, pr_ctlinput: tcp_ctlinput, pr_ctloutput: tcp_ctloutput,
    pr_init: tcp_init,
  };
  const rawip: Protosw = {
    pr_type: SOCK_RAW, pr_domain: dom, pr_protocol: IPPROTO_RAW, pr_flags: PR_ATOMIC | PR_ADDR | PR_PURGEIF,
    pr_usrreqs: rip_usrreqs, pr_input: rip_input, pr_ctlinput: rip_ctlinput, pr_ctloutput: rip_ctloutput,
  };
  const icmp: Protosw = {
    pr_type: SOCK_RAW, pr_domain: dom, pr_protocol: IPPROTO_ICMP, pr_flags: PR_ATOMIC | PR_ADDR | PR_LASTHDR,
    pr_usrreqs: rip_usrreqs, pr_input: icmp_input, pr_ctlinput: rip_ctlinput, pr_ctloutput: rip_ctloutput,
  };
  const rawwild: Protosw = {
    pr_type: SOCK_RAW, pr_domain: dom, pr_protocol: 0, pr_flags: PR_ATOMIC | PR_ADDR | PR_LASTHDR,
    pr_usrreqs: rip_usrreqs, pr_input: rip_input, pr_ctlinput: rip_ctlinput, pr_ctloutput: rip_ctloutput,
  };
  dom.dom_protosw.push(ip, udp, tcp, rawip, icmp, rawwild);
  in_protox_init(st, dom);
  return dom;
}

/**
 * in_protox_init: point every protocol number at the raw wildcard, then at
 * the entry that handles it (NetBSD's ip_init loop).  Call again after
 * adding an entry to the domain (TCP).
 */
export function in_protox_init(st: InetState, dom: Domain): void {
  const sw = dom.dom_protosw;
  st.inetsw = sw;
  let raw = -1;
  for (let i = 0; i < sw.length; i++) if (sw[i]!.pr_type === SOCK_RAW && sw[i]!.pr_protocol === 0) raw = i;
  if (raw < 0) throw new Error('in_protox_init: no raw wildcard protocol');
  st.ip_protox_raw = raw;
  st.ip_protox.fill(raw);
  for (let i = 0; i < sw.length; i++) {
    const pr = sw[i]!;
    if (pr.pr_input !== undefined && pr.pr_protocol !== 0 && pr.pr_protocol !== IPPROTO_RAW) st.ip_protox[pr.pr_protocol] = i;
  }
}
