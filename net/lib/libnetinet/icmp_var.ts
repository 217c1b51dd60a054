/*
 * icmp_var.ts: ICMP protocol state (NetBSD's netinet/icmp_var.h): the
 * icmpstat counters with their per-type histograms, and the net.inet.icmp
 * MIB numbers.
 *
 * Place in the packet path: icmp_input() counts what arrives, icmp_error()
 * what it is asked to send and why it refused, icmp_reflect()/icmp_send()
 * what went out (ip_icmp_input.ts).
 */

import { ICMP_MAXTYPE } from './ip_icmp.ts';
import { ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH, EMSGSIZE, ENOPROTOOPT } from '../../../include/errno.ts';

/** ICMP statistics (struct icmpstat), net.inet.icmp.stats. */
export class Icmpstat {
  /** Calls to icmp_error() (redirects excepted). */
  icps_error = 0;
  /** No error sent: the offending datagram was too short. */
  icps_oldshort = 0;
  /** No error sent: the offending datagram was itself an ICMP error. */
  icps_oldicmp = 0;
  /** icmp_code out of range for its type. */
  icps_badcode = 0;
  /** Message shorter than ICMP_MINLEN. */
  icps_tooshort = 0;
  /** Bad checksum. */
  icps_checksum = 0;
  /** Length inconsistent with the type (an error quoting too little). */
  icps_badlen = 0;
  /** Replies and errors sent (icmp_reflect). */
  icps_reflect = 0;
  /** Path MTU changes (none here: no PMTU discovery yet). */
  icps_pmtuchg = 0;
  /** Echo or timestamp requests to a broadcast or multicast address, ignored. */
  icps_bmcastecho = 0;
  /** No error sent: the rate limit (net.inet.icmp.errppslimit) was reached. */
  icps_toofreq = 0;
  /** No reply sent: the return address was bad (zero, broadcast, multicast, class E). */
  icps_badaddr = 0;
  /** No reply sent: no route back. */
  icps_noroute = 0;
  /** Messages sent, by type. */
  readonly icps_outhist: number[] = new Array<number>(ICMP_MAXTYPE + 1).fill(0);
  /** Messages received, by type. */
  readonly icps_inhist: number[] = new Array<number>(ICMP_MAXTYPE + 1).fill(0);
}

/* net.inet.icmp MIB numbers (ICMPCTL_*). */
export const ICMPCTL_MASKREPL = 1;
export const ICMPCTL_RETURNDATABYTES = 4;
export const ICMPCTL_ERRPPSLIMIT = 5;
export const ICMPCTL_REDIRACCEPT = 6;
export const ICMPCTL_REDIRTIMEOUT = 7;
export const ICMPCTL_STATS = 8;
export const ICMPCTL_BMCASTECHO = 10;

/*
 * PRC_* (sys/protosw.h): what pr_ctlinput is told.  ICMP errors are mapped
 * to these, and each protocol maps them on to an errno (inetctlerrmap).
 */
export const PRC_IFDOWN = 0;
export const PRC_ROUTEDEAD = 1;
export const PRC_QUENCH2 = 3;
export const PRC_QUENCH = 4;
export const PRC_MSGSIZE = 5;
export const PRC_HOSTDEAD = 6;
export const PRC_HOSTUNREACH = 7;
export const PRC_UNREACH_NET = 8;
export const PRC_UNREACH_HOST = 9;
export const PRC_UNREACH_PROTOCOL = 10;
export const PRC_UNREACH_PORT = 11;
export const PRC_UNREACH_SRCFAIL = 13;
export const PRC_REDIRECT_NET = 14;
export const PRC_REDIRECT_HOST = 15;
export const PRC_REDIRECT_TOSNET = 16;
export const PRC_REDIRECT_TOSHOST = 17;
export const PRC_TIMXCEED_INTRANS = 18;
export const PRC_TIMXCEED_REASS = 19;
export const PRC_PARAMPROB = 20;
export const PRC_NCMDS = 21;

export function PRC_IS_REDIRECT(cmd: number): boolean {
  return cmd >= PRC_REDIRECT_NET && cmd <= PRC_REDIRECT_TOSHOST;
}

/**
 * inetctlerrmap: the errno a PRC_ command means for a socket (NetBSD's
 * table in ip_icmp.c): unreachable networks and hosts are EHOSTUNREACH,
 * unreachable protocols and ports ECONNREFUSED (RFC 1122 4.1.3.3), a
 * too-big datagram EMSGSIZE; the rest (time exceeded, quench, redirects)
 * are 0: no error for the socket.
 */
export function inetctlerrmap(cmd: number): number {
  switch (cmd) {
    case PRC_MSGSIZE: return EMSGSIZE;
    case PRC_HOSTDEAD: return EHOSTDOWN;
    case PRC_HOSTUNREACH:
    case PRC_UNREACH_NET:
    case PRC_UNREACH_HOST:
    case PRC_UNREACH_SRCFAIL:
      return EHOSTUNREACH;
    case PRC_UNREACH_PROTOCOL:
    case PRC_UNREACH_PORT:
      return ECONNREFUSED;
    case PRC_PARAMPROB: return ENOPROTOOPT;
    default: return 0;
  }
}
