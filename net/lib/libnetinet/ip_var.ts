/*
 * ip_var.ts: IPv4 protocol state that is not wire format (NetBSD's
 * netinet/ip_var.h and ip_private.h): the ipstat counters, ip_output()'s
 * flags, and the defaults of the net.inet.ip tunables.
 *
 * Place in the packet path: every stage of ip_input.ts, ip_reass.ts and
 * ip_output.ts counts what it does here.  Counters are plain number fields
 * of one object per kernel (NetBSD keeps per-CPU uint64 arrays indexed by
 * IP_STAT_*; one virtual CPU needs neither), named exactly as netstat -s
 * and the struct ipstat of NetBSD name them.
 */

/** IPv4 statistics (struct ipstat), net.inet.ip.stats. */
export class Ipstat {
  /** Total packets received (after the interface handed them to IP). */
  ips_total = 0;
  /** Header checksum bad. */
  ips_badsum = 0;
  /** ip_len longer than the bytes that arrived. */
  ips_tooshort = 0;
  /** Fewer bytes than an IP header. */
  ips_toosmall = 0;
  /** Header length below 20 or beyond the data. */
  ips_badhlen = 0;
  /** ip_len shorter than the header. */
  ips_badlen = 0;
  /** Fragments received. */
  ips_fragments = 0;
  /** Fragments dropped (duplicates, overlaps, out of space). */
  ips_fragdropped = 0;
  /** Fragments timed out in reassembly. */
  ips_fragtimeout = 0;
  /** Packets forwarded. */
  ips_forward = 0;
  /** Packets forwarded by the fast path (none here: always 0). */
  ips_fastforward = 0;
  /** Packets received for an unreachable destination, or not forwardable. */
  ips_cantforward = 0;
  /** Packets forwarded back out of the interface they came in on (a redirect was due). */
  ips_redirectsent = 0;
  /** Unknown or unsupported protocol. */
  ips_noproto = 0;
  /** Datagrams delivered to an upper level. */
  ips_delivered = 0;
  /** Datagrams generated here (not raw, not forwarded). */
  ips_localout = 0;
  /** Output packets lost for want of mbufs and the like. */
  ips_odropped = 0;
  /** Datagrams reassembled. */
  ips_reassembled = 0;
  /** Datagrams fragmented on output. */
  ips_fragmented = 0;
  /** Fragments created on output. */
  ips_ofragments = 0;
  /** Datagrams not fragmented because of IP_DF (or a broadcast). */
  ips_cantfrag = 0;
  /** Errors in option processing. */
  ips_badoptions = 0;
  /** Packets discarded for want of a route. */
  ips_noroute = 0;
  /** ip_v not 4. */
  ips_badvers = 0;
  /** Raw IP packets generated here (IP_HDRINCL or raw sockets). */
  ips_rawout = 0;
  /** Malformed fragments (a middle fragment whose length is not a multiple of 8, or empty). */
  ips_badfrags = 0;
  /** Fragments dropped because of the reassembly memory limits. */
  ips_rcvmemdrop = 0;
  /** Reassembled length would exceed IP_MAXPACKET. */
  ips_toolong = 0;
  /** Invalid address in the header (multicast source, 127/8 off loopback). */
  ips_badaddr = 0;
  /** Multicast packets for groups this host is not in. */
  ips_notmember = 0;
}

/* ip_output() flags (netinet/ip_var.h). */
/** The packet is being forwarded: keep its header (id, TTL) as it is. */
export const IP_FORWARDING = 0x1;
/** Raw output (IP_HDRINCL): the header came from the user. */
export const IP_RAWOUTPUT = 0x2;
/** Send straight out of the interface on the destination's network (SO_DONTROUTE). */
export const IP_ROUTETOIF = 0x10;
/** Broadcast allowed (SO_BROADCAST). */
export const IP_ALLOWBROADCAST = 0x20;
/** Path MTU discovery: the caller sets IP_DF and wants EMSGSIZE rather than fragments. */
export const IP_MTUDISC = 0x400;

/**
 * Time a reassembly queue lives, in PR_SLOWHZ (2 Hz) ticks: 60 = 30 s, as
 * NetBSD's IPFRAGTTL.
 */
export const IPFRAGTTL = 60;
/** Slow timeout rate: the reassembly timer runs twice a second. */
export const PR_SLOWHZ = 2;

/** Default TTL of multicast datagrams (RFC 1112: stay on the local net). */
export const IP_DEFAULT_MULTICAST_TTL = 1;

/* net.inet.ip MIB numbers (netinet/in.h IPCTL_*), for the sysctl nodes. */
export const IPCTL_FORWARDING = 1;
export const IPCTL_SENDREDIRECTS = 2;
export const IPCTL_DEFTTL = 3;
export const IPCTL_FORWSRCRT = 5;
export const IPCTL_DIRECTEDBCAST = 6;
export const IPCTL_ALLOWSRCRT = 7;
export const IPCTL_SUBNETSARELOCAL = 8;
export const IPCTL_MTUDISC = 9;
export const IPCTL_ANONPORTMIN = 10;
export const IPCTL_ANONPORTMAX = 11;
export const IPCTL_MTUDISCTIMEOUT = 12;
export const IPCTL_MAXFLOWS = 13;
export const IPCTL_HOSTZEROBROADCAST = 14;
export const IPCTL_GIF_TTL = 15;
export const IPCTL_LOWPORTMIN = 16;
export const IPCTL_LOWPORTMAX = 17;
export const IPCTL_MAXFRAGPACKETS = 18;
export const IPCTL_GRE_TTL = 19;
export const IPCTL_CHECKINTERFACE = 20;
export const IPCTL_IFQ = 21;
export const IPCTL_RANDOMID = 22;
export const IPCTL_LOOPBACKCKSUM = 23;
export const IPCTL_STATS = 24;
