/*
 * System call numbers (NetBSD's syscalls.master) and the constants of the
 * descriptor-level calls: fcntl, open flags, poll, ioctl, reboot.
 */

export const SYS_read = 3;
export const SYS_write = 4;
export const SYS_open = 5;
export const SYS_close = 6;
export const SYS_getpid = 20;
export const SYS_dup = 41;
export const SYS_ioctl = 54;
export const SYS_dup2 = 90;
export const SYS_fcntl = 92;
export const SYS___sysctl = 202;
export const SYS_reboot = 208;
export const SYS_poll = 209;
export const SYS___fstat50 = 440;
export const SYS_pipe2 = 453;

/* fcntl(2) */
export const F_DUPFD = 0;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_CLOSEM = 10;
export const F_MAXFD = 11;
export const F_DUPFD_CLOEXEC = 12;
export const FD_CLOEXEC = 1;

/* open(2) flags; the f_flag of a file is the open flags plus one (FFLAGS). */
export const O_RDONLY = 0x0000;
export const O_WRONLY = 0x0001;
export const O_RDWR = 0x0002;
export const O_ACCMODE = 0x0003;
export const O_NONBLOCK = 0x0004;
export const O_APPEND = 0x0008;
export const O_ASYNC = 0x0040;
export const O_CREAT = 0x0200;
export const O_TRUNC = 0x0400;
export const O_EXCL = 0x0800;
export const O_CLOEXEC = 0x00400000;
export const O_NOSIGPIPE = 0x01000000;
export const FREAD = 0x0001;
export const FWRITE = 0x0002;
export const FNONBLOCK = O_NONBLOCK;
export const FAPPEND = O_APPEND;
export const FASYNC = O_ASYNC;
/** Flags F_SETFL may change. */
export const FCNTLFLAGS = FAPPEND | FASYNC | FNONBLOCK | O_NOSIGPIPE;

/* poll(2) */
export const POLLIN = 0x0001;
export const POLLPRI = 0x0002;
export const POLLOUT = 0x0004;
export const POLLRDNORM = 0x0040;
export const POLLWRNORM = POLLOUT;
export const POLLRDBAND = 0x0080;
export const POLLWRBAND = 0x0100;
export const POLLERR = 0x0008;
export const POLLHUP = 0x0010;
export const POLLNVAL = 0x0020;
export const INFTIM = -1;

/* ioctl(2) */
export const FIOCLEX = 0x20006601;
export const FIONCLEX = 0x20006602;
export const FIOASYNC = 0x8004667d;
export const FIONBIO = 0x8004667e;
export const FIONREAD = 0x4004667f;
export const FIONWRITE = 0x40046679;
export const FIONSPACE = 0x40046678;

/* reboot(2) */
export const RB_AUTOBOOT = 0;
export const RB_HALT = 0x0008;
export const RB_POWERDOWN = 0x0808;

/* File types (st_mode) */
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFSOCK = 0o140000;

/** struct stat, the fields a descriptor can tell. */
export interface Stat {
  st_dev: number;
  st_ino: number;
  st_mode: number;
  st_nlink: number;
  st_size: number;
  st_blksize: number;
  st_atimespec: { tv_sec: number; tv_nsec: number };
}

/** struct pollfd */
export interface PollFd {
  fd: number;
  events: number;
  revents: number;
}

/* Socket calls (NetBSD's syscalls.master numbers). */
export const SYS_recvmsg = 27;
export const SYS_sendmsg = 28;
export const SYS_recvfrom = 29;
export const SYS_accept = 30;
export const SYS_getpeername = 31;
export const SYS_getsockname = 32;
export const SYS_connect = 98;
export const SYS_bind = 104;
export const SYS_setsockopt = 105;
export const SYS_listen = 106;
export const SYS_getsockopt = 118;
export const SYS_sendto = 133;
export const SYS_shutdown = 134;
export const SYS_socketpair = 135;
export const SYS___socket30 = 394;
export const SYS_paccept = 456;
export const SYS_recvmmsg = 475;
export const SYS_sendmmsg = 476;
