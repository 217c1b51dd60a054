/*
 * netinet_component.ts: libnetinet as a component (NetBSD's
 * sys/rump/net/lib/libnetinet/netinet_component.c), its sysctl nodes, and
 * the API that reads its statistics.
 *
 * Place in the packet path: none itself; it connects the inet protocols to
 * the layers around them, once per kernel:
 *   NET:       the inet state (k.inet), the PF_INET domain (UDP, TCP, raw
 *              IP, ICMP; TCP's state k.tcp comes from its pr_init),
 *              ip_pktq and arp_pktq with their softints, the
 *              Ethernet input handlers for IP and ARP, ARP as the AF_INET
 *              resolver, lo0's AF_INET input, the interface hooks (detach,
 *              SIOCGIFCONF), the mbuf drain (reassembly queues, ARP hold
 *              queues), and the net.inet sysctl tree;
 *   NET_IFCFG: lo0 gets 127.0.0.1/8 and comes up.
 *
 * sysctl (NetBSD's names and numbers where NetBSD has them):
 *   net.inet.ip.forwarding, redirect, ttl, hostzerobroadcast, anonportmin,
 *     anonportmax, lowportmin, lowportmax, maxfragpackets, maxfrags,
 *     checkinterface, random_id, ifq.{len,maxlen,drops}, stats
 *   net.inet.icmp.maskrepl, returndatabytes, errppslimit, rediraccept,
 *     bmcastecho, stats
 *   net.inet.udp.checksum, sendspace, recvspace, stats, pcblist
 *   net.inet.tcp.* (tcp_usrreq.ts: tcp_sysctl_setup)
 *   net.inet.arp.keep, down, maxtries, maxhold (ours), stats
 */

import type { Kernel, KernelComponent } from '../../../librump/rumpkern/rump.ts';
import { panic } from '../../../librump/rumpkern/subr_prf.ts';
import type { SysctlIntDesc } from '../../../librump/rumpkern/kern_sysctl.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { pktq_create, pktq_sysctl_setup } from '../../../librump/rumpnet/pktqueue.ts';
import { m_reclaim_register, max_hdr_raise } from '../../../librump/rumpnet/uipc_mbuf.ts';
import { ifinit, ifnet_of, ifunit } from '../libnet/if.ts';
import { ether_register_input, ether_register_resolver } from '../libnet/if_ethersubr.ts';
import { loop_register_input } from '../libnet/if_loop.ts';
import { ETHERTYPE_ARP, ETHERTYPE_IP } from '../libnet/if_ether.ts';
import { EEXIST, EINVAL } from '../../../include/errno.ts';
import { CTL_CREATE, CTLFLAG_READWRITE, CTLTYPE_INT, CTLTYPE_NODE, CTLTYPE_STRUCT } from '../../../include/sysctl.ts';
import { AF_INET, PF_INET } from '../../../include/socket.ts';
import { INADDR_LOOPBACK, IPPROTO_ICMP, IPPROTO_IP, IPPROTO_UDP } from './in.ts';
import { IP_HDR_LEN } from './ip.ts';
import { UDP_HDR_LEN } from './udp.ts';
import {
  IPCTL_ANONPORTMAX, IPCTL_ANONPORTMIN, IPCTL_CHECKINTERFACE, IPCTL_SUBNETSARELOCAL, IPCTL_DEFTTL, IPCTL_FORWARDING,
  IPCTL_HOSTZEROBROADCAST, IPCTL_LOWPORTMAX, IPCTL_LOWPORTMIN, IPCTL_MAXFRAGPACKETS, IPCTL_RANDOMID,
  IPCTL_SENDREDIRECTS, IPCTL_STATS, type Ipstat,
} from './ip_var.ts';
import {
  ICMPCTL_BMCASTECHO, ICMPCTL_ERRPPSLIMIT, ICMPCTL_MASKREPL, ICMPCTL_REDIRACCEPT, ICMPCTL_RETURNDATABYTES,
  ICMPCTL_STATS, type Icmpstat,
} from './icmp_var.ts';
import { UDPCTL_CHECKSUM, UDPCTL_RECVSPACE, UDPCTL_SENDSPACE, UDPCTL_STATS, type Udpstat } from './udp_var.ts';
import { InetState, in_ifaddr_add, in_ifconf, in_purgeif } from './in_var.ts';
import { udp_pcblist } from './udp_usrreq.ts';
import {
  ArpTable, Arpstat, arp_add, arp_delete, arp_drain, arp_ifdetach, arp_ifinit, arp_input, arp_list, arpintr, arpresolve,
} from './if_arp.ts';
import { Inpcbtable, in_pcbpurgeif } from './in_pcb.ts';
import { IpReass, ip_reass_drain } from './ip_reass.ts';
import { ip_etherinput, ip_loopinput, ipintr } from './ip_input.ts';
import { in_domain_create } from './in_proto.ts';
import { TCP_MAX_HDR_LEN } from './tcp.ts';
import type { Tcpstat } from './tcp_var.ts';
import { tcp_drain } from './tcp_subr.ts';
import { tcp_sysctl_setup, tcpstat_read } from './tcp_usrreq.ts';

/** ip_pktq's limit: NetBSD's IFQ_MAXLEN. */
export const IPQ_MAXLEN = 256;
/** The ARP input queue's limit (NetBSD's arpintrq: 50). */
export const ARPQ_MAXLEN = 50;

/** What inet_stats() returns: snapshots of the statistics structures. */
export interface InetStats {
  ip: Ipstat;
  icmp: Icmpstat;
  udp: Udpstat;
  tcp: Tcpstat;
  arp: Arpstat;
}

/** A snapshot copy of a statistics object (histograms copied too). */
function snap<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(o)) out[key] = Array.isArray(v) ? v.slice() : v;
  return out as T;
}

/** The IP statistics of k (a copy), as net.inet.ip.stats reads it. */
export function ipstat_read(k: Kernel): Ipstat {
  return snap(inet(k).ipstat);
}
/** The ICMP statistics of k (a copy), as net.inet.icmp.stats. */
export function icmpstat_read(k: Kernel): Icmpstat {
  return snap(inet(k).icmpstat);
}
/** The UDP statistics of k (a copy), as net.inet.udp.stats. */
export function udpstat_read(k: Kernel): Udpstat {
  return snap(inet(k).udpstat);
}
/** The ARP statistics of k (a copy), as net.inet.arp.stats. */
export function arpstat_read(k: Kernel): Arpstat {
  return snap(inet(k).arpstat);
}
/** All of them at once. */
export function inet_stats(k: Kernel): InetStats {
  return { ip: ipstat_read(k), icmp: icmpstat_read(k), udp: udpstat_read(k), tcp: tcpstat_read(k), arp: arpstat_read(k) };
}

function inet(k: Kernel): InetState {
  const st = k.inet;
  if (st === undefined) throw new Error(`${k.name}: rumpnet_netinet is not booted`);
  return st;
}

/* ------------------------------------------------------------- sysctl */

function mkdir(k: Kernel, parent: string, name: string, num: number, description: string): void {
  const r = k.sysctl.sysctl_createv(parent, { name, num, type: CTLTYPE_NODE, description });
  if (r.error !== 0 && r.error !== EEXIST) panic(k, `netinet: sysctl ${parent}.${name}: errno ${r.error}`);
}

function mkint(k: Kernel, parent: string, desc: SysctlIntDesc): void {
  const r = k.sysctl.sysctl_createv(parent, desc);
  if (r.error !== 0) panic(k, `netinet: sysctl ${parent}.${desc.name}: errno ${r.error}`);
}

/* A read-write int node over a field of the inet state, within [min, max]. */
function tunable(k: Kernel, parent: string, name: string, num: number, min: number, max: number,
  get: () => number, set: (v: number) => void, description: string): void {
  mkint(k, parent, {
    name, num, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE, description,
    get,
    validate: (v: number) => (v < min || v > max ? EINVAL : 0),
    set: (v: number) => { set(v); return 0; },
  });
}

function mkstats(k: Kernel, parent: string, num: number, get: () => object, description: string, name = 'stats'): void {
  const r = k.sysctl.sysctl_createv(parent, { name, num, type: CTLTYPE_STRUCT, get, description });
  if (r.error !== 0) panic(k, `netinet: sysctl ${parent}.${name}: errno ${r.error}`);
}

function netinet_sysctl(k: Kernel, st: InetState): void {
  mkdir(k, 'net', 'inet', PF_INET, 'PF_INET related settings');
  mkdir(k, 'net.inet', 'ip', IPPROTO_IP, 'IPv4 related settings');
  mkdir(k, 'net.inet', 'icmp', IPPROTO_ICMP, 'ICMPv4 related settings');
  mkdir(k, 'net.inet', 'udp', IPPROTO_UDP, 'UDPv4 related settings');
  mkdir(k, 'net.inet', 'arp', CTL_CREATE, 'Address Resolution Protocol');
  const ip = 'net.inet.ip';
  tunable(k, ip, 'forwarding', IPCTL_FORWARDING, 0, 1, () => st.ip_forwarding, (v) => { st.ip_forwarding = v; },
    'Enable forwarding of INET datagrams');
  tunable(k, ip, 'redirect', IPCTL_SENDREDIRECTS, 0, 1, () => st.ip_sendredirects, (v) => { st.ip_sendredirects = v; },
    'Enable sending of ICMP redirect messages');
  tunable(k, ip, 'ttl', IPCTL_DEFTTL, 1, 255, () => st.ip_defttl, (v) => { st.ip_defttl = v; },
    'Default TTL for an INET datagram');
  tunable(k, ip, 'hostzerobroadcast', IPCTL_HOSTZEROBROADCAST, 0, 1, () => st.ip_hostzeroisbroadcast,
    (v) => { st.ip_hostzeroisbroadcast = v; }, 'All zeroes address is broadcast address');
  tunable(k, ip, 'subnetsarelocal', IPCTL_SUBNETSARELOCAL, 0, 1, () => st.ip_subnetsarelocal,
    (v) => { st.ip_subnetsarelocal = v; }, 'Whether logical subnets are considered local');
  /* Port ranges: NetBSD's sysctl_net_inet_ip_ports keeps min < max inside 0..65535. */
  mkint(k, ip, {
    name: 'anonportmin', num: IPCTL_ANONPORTMIN, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    description: 'Lowest ephemeral port number to assign',
    get: () => st.anonportmin,
    validate: (v: number) => (v < 1 || v > 65535 || v >= st.anonportmax ? EINVAL : 0),
    set: (v: number) => { st.anonportmin = v; return 0; },
  });
  mkint(k, ip, {
    name: 'anonportmax', num: IPCTL_ANONPORTMAX, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    description: 'Highest ephemeral port number to assign',
    get: () => st.anonportmax,
    validate: (v: number) => (v < 1 || v > 65535 || v <= st.anonportmin ? EINVAL : 0),
    set: (v: number) => { st.anonportmax = v; return 0; },
  });
  mkint(k, ip, {
    name: 'lowportmin', num: IPCTL_LOWPORTMIN, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    description: 'Lowest privileged ephemeral port number to assign',
    get: () => st.lowportmin,
    validate: (v: number) => (v < 1 || v > 1023 || v >= st.lowportmax ? EINVAL : 0),
    set: (v: number) => { st.lowportmin = v; return 0; },
  });
  mkint(k, ip, {
    name: 'lowportmax', num: IPCTL_LOWPORTMAX, type: CTLTYPE_INT, flags: CTLFLAG_READWRITE,
    description: 'Highest privileged ephemeral port number to assign',
    get: () => st.lowportmax,
    validate: (v: number) => (v < 1 || v > 1023 || v <= st.lowportmin ? EINVAL : 0),
    set: (v: number) => { st.lowportmax = v; return 0; },
  });
  tunable(k, ip, 'maxfragpackets', IPCTL_MAXFRAGPACKETS, 0, 1 << 20, () => st.ip_maxfragpackets,
    (v) => { st.ip_maxfragpackets = v; }, 'Maximum number of fragments to retain for possible reassembly');
  tunable(k, ip, 'maxfrags', CTL_CREATE, 0, 1 << 20, () => st.ip_maxfrags, (v) => { st.ip_maxfrags = v; },
    'Maximum number of fragments held for reassembly');
  tunable(k, ip, 'checkinterface', IPCTL_CHECKINTERFACE, 0, 1, () => st.ip_checkinterface,
    (v) => { st.ip_checkinterface = v; }, 'Enable receive side of Strong ES model (RFC1122)');
  tunable(k, ip, 'random_id', IPCTL_RANDOMID, 0, 1, () => st.ip_do_randomid, (v) => { st.ip_do_randomid = v; },
    'Assign random ip_id values');
  mkstats(k, ip, IPCTL_STATS, () => ipstat_read(k), 'IP statistics');
  const e = pktq_sysctl_setup(st.ip_pktq, ip);
  if (e !== 0) panic(k, `netinet: sysctl ${ip}.ifq: errno ${e}`);

  const icmp = 'net.inet.icmp';
  tunable(k, icmp, 'maskrepl', ICMPCTL_MASKREPL, 0, 1, () => st.icmpmaskrepl, (v) => { st.icmpmaskrepl = v; },
    'Respond to ICMP_MASKREQ messages');
  tunable(k, icmp, 'returndatabytes', ICMPCTL_RETURNDATABYTES, 8, 512, () => st.icmpreturndatabytes,
    (v) => { st.icmpreturndatabytes = v; }, 'Number of bytes to return in an ICMP error message');
  tunable(k, icmp, 'errppslimit', ICMPCTL_ERRPPSLIMIT, -1, 0x7fffffff, () => st.icmperrppslim,
    (v) => { st.icmperrppslim = v; }, 'Maximum number of outgoing ICMP error messages per second');
  tunable(k, icmp, 'rediraccept', ICMPCTL_REDIRACCEPT, 0, 1, () => st.icmp_rediraccept,
    (v) => { st.icmp_rediraccept = v; }, 'Accept ICMP_REDIRECT messages');
  tunable(k, icmp, 'bmcastecho', ICMPCTL_BMCASTECHO, 0, 1, () => st.icmpbmcastecho,
    (v) => { st.icmpbmcastecho = v; }, 'Respond to ICMP echo requests to broadcast and multicast addresses');
  mkstats(k, icmp, ICMPCTL_STATS, () => icmpstat_read(k), 'ICMPv4 statistics');

  const udp = 'net.inet.udp';
  tunable(k, udp, 'checksum', UDPCTL_CHECKSUM, 0, 1, () => st.udpcksum, (v) => { st.udpcksum = v; },
    'Compute UDP checksums');
  tunable(k, udp, 'sendspace', UDPCTL_SENDSPACE, 1, net_of(k).sb_max, () => st.udp_sendspace,
    (v) => { st.udp_sendspace = v; }, 'Default UDP send buffer size');
  tunable(k, udp, 'recvspace', UDPCTL_RECVSPACE, 1, net_of(k).sb_max, () => st.udp_recvspace,
    (v) => { st.udp_recvspace = v; }, 'Default UDP receive buffer size');
  mkstats(k, udp, UDPCTL_STATS, () => udpstat_read(k), 'UDP statistics');
  mkstats(k, udp, CTL_CREATE, () => udp_pcblist(st), 'UDP protocol control block list', 'pcblist');

  const arp = 'net.inet.arp';
  tunable(k, arp, 'keep', CTL_CREATE, 1, 0x7fffffff / k.hz, () => st.arpt_keep, (v) => { st.arpt_keep = v; },
    'Valid ARP entry lifetime in seconds');
  tunable(k, arp, 'down', CTL_CREATE, 1, 0x7fffffff / k.hz, () => st.arpt_down, (v) => { st.arpt_down = v; },
    'Failed ARP entry lifetime in seconds');
  tunable(k, arp, 'maxtries', CTL_CREATE, 1, 100, () => st.arp_maxtries, (v) => { st.arp_maxtries = v; },
    'ARP requests sent before a host is considered down');
  tunable(k, arp, 'maxhold', CTL_CREATE, 0, 1024, () => st.arp_maxhold, (v) => { st.arp_maxhold = v; },
    'Packets held per unresolved ARP entry');
  mkstats(k, arp, CTL_CREATE, () => arpstat_read(k), 'ARP statistics');
}

/* -------------------------------------------------------------- init */

function netinet_init(k: Kernel): void {
  if (k.ifnet === undefined) ifinit(k);
  const net = net_of(k);
  const st = new InetState(k);
  k.inet = st;
  st.arpstat = new Arpstat();
  st.arp = new ArpTable(k, st);
  st.reass = new IpReass(st);
  st.udbtable = new Inpcbtable(st, 'udp');
  st.rawcbtable = new Inpcbtable(st, 'raw');
  st.ip_id = k.cprng.cprng_fast32() & 0xffff;
  st.ip_pktq = pktq_create(k, 'ip', IPQ_MAXLEN, ipintr);
  st.arp_pktq = pktq_create(k, 'arp', ARPQ_MAXLEN, arpintr);
  net.domains.domain_attach(k, in_domain_create(st));
  max_hdr_raise(net.mb, 0, Math.max(IP_HDR_LEN + UDP_HDR_LEN, IP_HDR_LEN + TCP_MAX_HDR_LEN));

  ether_register_input(k, ETHERTYPE_IP, ip_etherinput);
  ether_register_input(k, ETHERTYPE_ARP, arp_input);
  ether_register_resolver(k, AF_INET, arpresolve);
  loop_register_input(k, AF_INET, ip_loopinput);

  st.in_hooks = {
    ifinit: (ifp, ia) => { arp_ifinit(ifp, ia); },
    ifdetach: (ifp) => {
      arp_ifdetach(k, ifp);
      in_pcbpurgeif(st.udbtable, ifp);
      in_pcbpurgeif(st.rawcbtable, ifp);
      in_pcbpurgeif(k.tcp!.tcbtable, ifp);
    },
  };
  const ifs = ifnet_of(k);
  ifs.detachhooks.push((ifp) => { in_purgeif(st, ifp); });
  ifs.ifconfhooks.push(in_ifconf);
  ifs.lltables.set(AF_INET, {
    llt_dump: () => arp_list(k), llt_delete: (a) => arp_delete(k, a),
    llt_add: (a, mac, ifp) => arp_add(k, a, mac, ifp?.if_xname),
  });
  m_reclaim_register(net.mb, () => {
    ip_reass_drain(k);
    arp_drain(k);
    tcp_drain(k);
  });
  netinet_sysctl(k, st);
  tcp_sysctl_setup(k);
}

/* NET_IFCFG: lo0 gets 127.0.0.1/8 and comes up, as NetBSD's netinet component does. */
function netinet_ifcfg(k: Kernel): void {
  const lo0 = ifunit(k, 'lo0');
  if (lo0 === null) return;
  const e = in_ifaddr_add(k, lo0, INADDR_LOOPBACK, 8);
  if (e !== 0) panic(k, `netinet: lo0 127.0.0.1/8: errno ${e}`);
}

/** libnetinet: ARP, IPv4, ICMP, UDP, TCP and raw IP. */
export const rumpnet_netinet_component: KernelComponent = {
  name: 'rumpnet_netinet',
  provides: ['domain:PF_INET'],
  needs: ['faction:net', 'ifnet', 'routing'],
  init: {
    NET: (k) => { netinet_init(k); },
    NET_IFCFG: (k) => { netinet_ifcfg(k); },
  },
};
