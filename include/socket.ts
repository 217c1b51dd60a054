/*
 * Socket-level constants (NetBSD's sys/socket.h) and the sockaddr shapes
 * users pass to the socket syscalls.
 */

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_RDM = 4;
export const SOCK_SEQPACKET = 5;
export const SOCK_CLOEXEC = 0x10000000;
export const SOCK_NONBLOCK = 0x20000000;
export const SOCK_NOSIGPIPE = 0x40000000;
export const SOCK_FLAGS_MASK = 0xf0000000;

export const AF_UNSPEC = 0;
export const AF_LOCAL = 1;
export const AF_UNIX = AF_LOCAL;
export const AF_INET = 2;
export const AF_LINK = 18;
export const AF_INET6 = 24;
export const AF_ROUTE = 34;
export const PF_UNSPEC = AF_UNSPEC;
export const PF_LOCAL = AF_LOCAL;
export const PF_INET = AF_INET;
export const PF_INET6 = AF_INET6;
export const PF_ROUTE = AF_ROUTE;

export const SOL_SOCKET = 0xffff;

export const SO_DEBUG = 0x0001;
export const SO_ACCEPTCONN = 0x0002;
export const SO_REUSEADDR = 0x0004;
export const SO_KEEPALIVE = 0x0008;
export const SO_DONTROUTE = 0x0010;
export const SO_BROADCAST = 0x0020;
export const SO_USELOOPBACK = 0x0040;
export const SO_LINGER = 0x0080;
export const SO_OOBINLINE = 0x0100;
export const SO_REUSEPORT = 0x0200;
export const SO_NOSIGPIPE = 0x0800;
export const SO_ACCEPTFILTER = 0x1000;
export const SO_TIMESTAMP = 0x2000;
export const SO_SNDBUF = 0x1001;
export const SO_RCVBUF = 0x1002;
export const SO_SNDLOWAT = 0x1003;
export const SO_RCVLOWAT = 0x1004;
export const SO_ERROR = 0x1007;
export const SO_TYPE = 0x1008;
export const SO_OVERFLOWED = 0x1009;
export const SO_NOHEADER = 0x100a;
export const SO_SNDTIMEO = 0x100b;
export const SO_RCVTIMEO = 0x100c;

export const MSG_OOB = 0x0001;
export const MSG_PEEK = 0x0002;
export const MSG_DONTROUTE = 0x0004;
export const MSG_EOR = 0x0008;
export const MSG_TRUNC = 0x0010;
export const MSG_CTRUNC = 0x0020;
export const MSG_WAITALL = 0x0040;
export const MSG_DONTWAIT = 0x0080;
export const MSG_NOSIGNAL = 0x0400;
/** recvmmsg(2): block for the first message only. */
export const MSG_WAITFORONE = 0x2000;

export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;

/** Largest listen(2) backlog by default (kern.somaxconn). */
export const SOMAXCONN = 128;

/** struct sockaddr_in, as users write it. */
export interface SockaddrIn {
  sin_family: typeof AF_INET;
  sin_port: number;
  /** Dotted quad. */
  sin_addr: string;
}

/** struct sockaddr_un: no file system yet, so names live in the kernel's own name space. */
export interface SockaddrUn {
  sun_family: typeof AF_LOCAL;
  sun_path: string;
}

export type Sockaddr = SockaddrIn | SockaddrUn;

/** One message of sendmmsg(2): the data and, unconnected, where it goes. */
export interface Mmsghdr {
  buf: Uint8Array;
  to?: Sockaddr;
}

/** One message of recvmmsg(2), filled in by the call: bytes, sender and flags. */
export interface RecvMmsghdr {
  buf: Uint8Array;
  n: number;
  from: Sockaddr | null;
  flags: number;
}

/** struct linger */
export interface Linger {
  l_onoff: number;
  l_linger: number;
}

/** struct timeval, for SO_RCVTIMEO/SO_SNDTIMEO. */
export interface Timeval {
  tv_sec: number;
  tv_usec: number;
}
