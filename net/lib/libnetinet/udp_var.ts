/*
 * udp_var.ts: UDP protocol state (NetBSD's netinet/udp_var.h): the udpstat
 * counters, the socket buffer defaults and the net.inet.udp MIB numbers.
 *
 * Place in the packet path: udp_input() counts each datagram in, by what
 * became of it; udp_output() counts what went out (udp_usrreq.ts).
 */

/** UDP statistics (struct udpstat), net.inet.udp.stats. */
export class Udpstat {
  /** Datagrams handed to UDP by IP. */
  udps_ipackets = 0;
  /** Shorter than a UDP header. */
  udps_hdrops = 0;
  /** Checksum error. */
  udps_badsum = 0;
  /** uh_ulen larger than the datagram, or smaller than the header. */
  udps_badlen = 0;
  /** No socket on the port (an ICMP port unreachable was sent). */
  udps_noport = 0;
  /** No socket on the port, broadcast or multicast (nothing sent back). */
  udps_noportbcast = 0;
  /** Not delivered: the receiving socket's buffer was full. */
  udps_fullsock = 0;
  /** Found by the wildcard (bind) lookup after the connected lookup missed. */
  udps_pcbhashmiss = 0;
  /** Datagrams sent. */
  udps_opackets = 0;
}

/** Default send buffer: NetBSD's udp_sendspace (a 9 KB NFS datagram fits). */
export const UDP_SENDSPACE = 9216;
/** Default receive buffer: NetBSD's udp_recvspace, 40 1 KB datagrams with their addresses. */
export const UDP_RECVSPACE = 40 * (1024 + 16);

/* net.inet.udp MIB numbers (UDPCTL_*). */
export const UDPCTL_CHECKSUM = 1;
export const UDPCTL_SENDSPACE = 2;
export const UDPCTL_RECVSPACE = 3;
export const UDPCTL_LOOPBACKCKSUM = 4;
export const UDPCTL_STATS = 5;
