/*
 * mbuf constants shared by the kernel (librump/rumpnet/uipc_mbuf.ts) and
 * its users (netstat -m style tools, sysctl readers, tests): sizes, m_flags,
 * m_type, checksum-offload flags, allocation flags and the kern.mbuf MIB,
 * with NetBSD's names and values (sys/mbuf.h, sys/sysctl.h).
 *
 * Sizes.  In NetBSD an mbuf is MSIZE bytes of memory holding its own header
 * and MLEN bytes of data, or MHLEN when a packet header takes room too.
 * Here the header is a JavaScript object beside the storage, so the whole
 * MSIZE is data: MLEN = MSIZE.  MHLEN is still smaller, by the size a
 * packet header would take (MPKTHDRSIZE), so that everything sized by
 * "what fits in a header mbuf" (m_pullup's limit, the headers tcp_output
 * builds in one mbuf, MINCLSIZE) behaves as in NetBSD, and tests meet both
 * limits.  256 bytes holds the largest header stack the stack builds
 * (max_linkhdr 16 + IPv4 60 + TCP 60 = 136) with room to spare, and keeps a
 * small packet (an ACK, an ARP) out of a 2 KB cluster.
 */

/** Bytes of storage in one mbuf (kern.mbuf.msize). */
export const MSIZE = 256;
/** Data bytes in an mbuf without a packet header: all of it (see above). */
export const MLEN = MSIZE;
/** Room a packet header takes in an mbuf (NetBSD's sizeof(struct pkthdr) on LP64, rounded). */
export const MPKTHDRSIZE = 48;
/** Data bytes in an mbuf with a packet header. */
export const MHLEN = MLEN - MPKTHDRSIZE;
/** Bytes in an mbuf cluster (kern.mbuf.mclbytes). */
export const MCLBYTES = 2048;
/** Smallest amount of data worth putting in a cluster rather than small mbufs. */
export const MINCLSIZE = MHLEN + 1;
/** Default cluster limit (kern.mbuf.nmbclusters): 2 MB of clusters, NetBSD's small-machine default. */
export const NMBCLUSTERS = 1024;
/** Default mbuf limit (kern.mbuf.nmbufs, not in NetBSD): 1 MB of small mbufs. */
export const NMBUFS = 4096;
/** Highest value kern.mbuf.nmbclusters accepts (NetBSD's nmbclusters_limit): 512 MB of clusters. */
export const NMBCLUSTERS_LIMIT = 262144;
/** Highest value kern.mbuf.nmbufs accepts. */
export const NMBUFS_LIMIT = 1048576;
/** m_copym/m_dup/m_makewritable length meaning "to the end of the chain". */
export const M_COPYALL = 1000000000;

/* m_flags (sys/mbuf.h). */
/** Has external storage (a cluster). */
export const M_EXT = 0x00000001;
/** Start of a packet: m_pkthdr is valid. */
export const M_PKTHDR = 0x00000002;
/** End of a record. */
export const M_EOR = 0x00000004;
export const M_PROTO1 = 0x00000008;
export const M_AUTHIPHDR = 0x00000010;
export const M_DECRYPTED = 0x00000020;
/** Received on the loopback interface. */
export const M_LOOP = 0x00000040;
/** Sent/received as a link-layer broadcast. */
export const M_BCAST = 0x00000100;
/** Sent/received as a link-layer multicast. */
export const M_MCAST = 0x00000200;
export const M_CANFASTFWD = 0x00000400;
export const M_ANYCAST6 = 0x00000800;
export const M_LINK0 = 0x00001000;
export const M_LINK1 = 0x00002000;
export const M_LINK2 = 0x00004000;
export const M_LINK3 = 0x00008000;
export const M_LINK4 = 0x00010000;
export const M_LINK5 = 0x00020000;
export const M_LINK6 = 0x00040000;
export const M_LINK7 = 0x00080000;
export const M_VLANTAG = 0x00100000;
/** Ethernet: the frame ends in its FCS (net/if_ether.h: M_LINK0). */
export const M_HASFCS = M_LINK0;
/** Ethernet: received only because the interface is promiscuous (net/if_ether.h: M_LINK1). */
export const M_PROMISC = M_LINK1;
/*
 * Flags with bit 31 set are written `| 0`: as int32, the form every bitwise
 * operation returns, so that `(f & X) === X` holds for them too.
 */
/** The flags that describe external storage. */
export const M_EXT_FLAGS = 0xff000000 | 0;
/** The external storage is a cluster from the cluster pool. */
export const M_EXT_CLUSTER = 0x01000000;
/** The external storage may be written (when not shared). */
export const M_EXT_RW = 0x08000000;
/** Source-level compatibility name for M_EXT_CLUSTER. */
export const M_CLUSTER = M_EXT_CLUSTER;
/** Flags that travel with the packet header (m_copy_pkthdr/m_move_pkthdr). */
export const M_COPYFLAGS = M_PKTHDR | M_EOR | M_BCAST | M_MCAST | M_CANFASTFWD | M_ANYCAST6 |
  M_LINK0 | M_LINK1 | M_LINK2 | M_AUTHIPHDR | M_DECRYPTED | M_LOOP | M_VLANTAG;
/** Flags copied when a second mbuf shares the same external storage. */
export const M_EXTCOPYFLAGS = M_EXT | M_EXT_FLAGS;

/* m_type. */
export const MT_FREE = 0;
export const MT_DATA = 1;
export const MT_HEADER = 2;
export const MT_SONAME = 3;
export const MT_SOOPTS = 4;
export const MT_FTABLE = 5;
export const MT_CONTROL = 6;
export const MT_OOBDATA = 7;
/** Number of mbuf types (the length of mbstat.m_mtypes). */
export const MT_NTYPES = 8;

/* m_pkthdr.csum_flags (sys/mbuf.h). */
export const M_CSUM_TCPv4 = 0x00000001;
export const M_CSUM_UDPv4 = 0x00000002;
export const M_CSUM_TCP_UDP_BAD = 0x00000004;
export const M_CSUM_DATA = 0x00000008;
export const M_CSUM_TCPv6 = 0x00000010;
export const M_CSUM_UDPv6 = 0x00000020;
export const M_CSUM_IPv4 = 0x00000040;
export const M_CSUM_IPv4_BAD = 0x00000080;
export const M_CSUM_TSOv4 = 0x00000100;
export const M_CSUM_TSOv6 = 0x00000200;
export const M_CSUM_BLANK = 0x40000000;
export const M_CSUM_NO_PSEUDOHDR = 0x80000000 | 0;

/* Allocation flags (how): NetBSD's malloc(9) M_WAITOK / M_NOWAIT. */
export const M_WAITOK = 0x0001;
export const M_NOWAIT = 0x0002;
/** May sleep for memory (see uipc_mbuf.ts: the synchronous calls never sleep). */
export const M_WAIT = M_WAITOK;
/** Must not sleep: fail with null. */
export const M_DONTWAIT = M_NOWAIT;

/* The kern.mbuf MIB (sys/sysctl.h, sys/mbuf.h). */
export const KERN_MBUF = 39;
export const MBUF_MSIZE = 1;
export const MBUF_MCLBYTES = 2;
export const MBUF_NMBCLUSTERS = 3;
export const MBUF_MBLOWAT = 4;
export const MBUF_MCLLOWAT = 5;
export const MBUF_STATS = 6;
export const MBUF_MOWNERS = 7;
export const MBUF_NMBCLUSTERS_LIMIT = 8;

/**
 * kern.mbuf.stats: 4.4BSD's struct mbstat, which NetBSD still names.
 * m_mbufs and m_clusters are the ones out now.
 */
export interface Mbstat {
  /** Mbufs out now. */
  m_mbufs: number;
  /** Clusters out now. */
  m_clusters: number;
  /** Allocations that failed (the caller saw ENOBUFS). */
  m_drops: number;
  /** Times an allocation had to wait for memory. */
  m_wait: number;
  /** Times the protocols' drain routines were called to free memory. */
  m_drain: number;
  /** m_copym failures. */
  m_mcfail: number;
  /** m_pullup failures. */
  m_mpfail: number;
  /** Mbufs out now, by m_type. */
  m_mtypes: number[];
}
