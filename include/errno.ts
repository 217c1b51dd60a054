/*
 * errno values with NetBSD's numbering (sys/errno.h) and the error that the
 * syscall boundary throws.  Inside the kernel, functions return an errno
 * number (0 is success) as NetBSD does; only the rump_sys_* surface turns a
 * nonzero errno into a thrown SyscallError, shaped like Node's system errors.
 */

export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const ENOEXEC = 8;
export const EBADF = 9;
export const ECHILD = 10;
export const EDEADLK = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const ENOTBLK = 15;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const ENOTTY = 25;
export const ETXTBSY = 26;
export const EFBIG = 27;
export const ENOSPC = 28;
export const ESPIPE = 29;
export const EROFS = 30;
export const EMLINK = 31;
export const EPIPE = 32;
export const EDOM = 33;
export const ERANGE = 34;
export const EAGAIN = 35;
export const EWOULDBLOCK = EAGAIN;
export const EINPROGRESS = 36;
export const EALREADY = 37;
export const ENOTSOCK = 38;
export const EDESTADDRREQ = 39;
export const EMSGSIZE = 40;
export const EPROTOTYPE = 41;
export const ENOPROTOOPT = 42;
export const EPROTONOSUPPORT = 43;
export const ESOCKTNOSUPPORT = 44;
export const EOPNOTSUPP = 45;
export const EPFNOSUPPORT = 46;
export const EAFNOSUPPORT = 47;
export const EADDRINUSE = 48;
export const EADDRNOTAVAIL = 49;
export const ENETDOWN = 50;
export const ENETUNREACH = 51;
export const ENETRESET = 52;
export const ECONNABORTED = 53;
export const ECONNRESET = 54;
export const ENOBUFS = 55;
export const EISCONN = 56;
export const ENOTCONN = 57;
export const ESHUTDOWN = 58;
export const ETOOMANYREFS = 59;
export const ETIMEDOUT = 60;
export const ECONNREFUSED = 61;
export const ELOOP = 62;
export const ENAMETOOLONG = 63;
export const EHOSTDOWN = 64;
export const EHOSTUNREACH = 65;
export const ENOTEMPTY = 66;
export const EPROCLIM = 67;
export const EUSERS = 68;
export const EDQUOT = 69;
export const ESTALE = 70;
export const EREMOTE = 71;
export const EBADRPC = 72;
export const ERPCMISMATCH = 73;
export const EPROGUNAVAIL = 74;
export const EPROGMISMATCH = 75;
export const EPROCUNAVAIL = 76;
export const ENOLCK = 77;
export const ENOSYS = 78;
export const EFTYPE = 79;
export const EAUTH = 80;
export const ENEEDAUTH = 81;
export const EIDRM = 82;
export const ENOMSG = 83;
export const EOVERFLOW = 84;
export const EILSEQ = 85;
export const ENOTSUP = 86;
export const ECANCELED = 87;
export const EBADMSG = 88;
export const ENODATA = 89;
export const ENOSR = 90;
export const ENOSTR = 91;
export const ETIME = 92;
export const ENOATTR = 93;
export const EMULTIHOP = 94;
export const ENOLINK = 95;
export const EPROTO = 96;

/* Kernel-internal pseudo errors, never seen by users. */
export const ERESTART = -3;
export const EJUSTRETURN = -2;
export const EPASSTHROUGH = -4;

/* [code, message] indexed by errno; messages follow NetBSD's strerror(3). */
const TABLE: readonly (readonly [string, string])[] = [
  ['', 'Undefined error: 0'],
  ['EPERM', 'Operation not permitted'],
  ['ENOENT', 'No such file or directory'],
  ['ESRCH', 'No such process'],
  ['EINTR', 'Interrupted system call'],
  ['EIO', 'Input/output error'],
  ['ENXIO', 'Device not configured'],
  ['E2BIG', 'Argument list too long'],
  ['ENOEXEC', 'Exec format error'],
  ['EBADF', 'Bad file descriptor'],
  ['ECHILD', 'No child processes'],
  ['EDEADLK', 'Resource deadlock avoided'],
  ['ENOMEM', 'Cannot allocate memory'],
  ['EACCES', 'Permission denied'],
  ['EFAULT', 'Bad address'],
  ['ENOTBLK', 'Block device required'],
  ['EBUSY', 'Device busy'],
  ['EEXIST', 'File exists'],
  ['EXDEV', 'Cross-device link'],
  ['ENODEV', 'Operation not supported by device'],
  ['ENOTDIR', 'Not a directory'],
  ['EISDIR', 'Is a directory'],
  ['EINVAL', 'Invalid argument'],
  ['ENFILE', 'Too many open files in system'],
  ['EMFILE', 'Too many open files'],
  ['ENOTTY', 'Inappropriate ioctl for device'],
  ['ETXTBSY', 'Text file busy'],
  ['EFBIG', 'File too large'],
  ['ENOSPC', 'No space left on device'],
  ['ESPIPE', 'Illegal seek'],
  ['EROFS', 'Read-only file system'],
  ['EMLINK', 'Too many links'],
  ['EPIPE', 'Broken pipe'],
  ['EDOM', 'Numerical argument out of domain'],
  ['ERANGE', 'Result too large or too small'],
  ['EAGAIN', 'Resource temporarily unavailable'],
  ['EINPROGRESS', 'Operation now in progress'],
  ['EALREADY', 'Operation already in progress'],
  ['ENOTSOCK', 'Socket operation on non-socket'],
  ['EDESTADDRREQ', 'Destination address required'],
  ['EMSGSIZE', 'Message too long'],
  ['EPROTOTYPE', 'Protocol wrong type for socket'],
  ['ENOPROTOOPT', 'Protocol option not available'],
  ['EPROTONOSUPPORT', 'Protocol not supported'],
  ['ESOCKTNOSUPPORT', 'Socket type not supported'],
  ['EOPNOTSUPP', 'Operation not supported'],
  ['EPFNOSUPPORT', 'Protocol family not supported'],
  ['EAFNOSUPPORT', 'Address family not supported by protocol family'],
  ['EADDRINUSE', 'Address already in use'],
  ['EADDRNOTAVAIL', "Can't assign requested address"],
  ['ENETDOWN', 'Network is down'],
  ['ENETUNREACH', 'Network is unreachable'],
  ['ENETRESET', 'Network dropped connection on reset'],
  ['ECONNABORTED', 'Software caused connection abort'],
  ['ECONNRESET', 'Connection reset by peer'],
  ['ENOBUFS', 'No buffer space available'],
  ['EISCONN', 'Socket is already connected'],
  ['ENOTCONN', 'Socket is not connected'],
  ['ESHUTDOWN', "Can't send after socket shutdown"],
  ['ETOOMANYREFS', "Too many references: can't splice"],
  ['ETIMEDOUT', 'Operation timed out'],
  ['ECONNREFUSED', 'Connection refused'],
  ['ELOOP', 'Too many levels of symbolic links'],
  ['ENAMETOOLONG', 'File name too long'],
  ['EHOSTDOWN', 'Host is down'],
  ['EHOSTUNREACH', 'No route to host'],
  ['ENOTEMPTY', 'Directory not empty'],
  ['EPROCLIM', 'Too many processes'],
  ['EUSERS', 'Too many users'],
  ['EDQUOT', 'Disc quota exceeded'],
  ['ESTALE', 'Stale NFS file handle'],
  ['EREMOTE', 'Too many levels of remote in path'],
  ['EBADRPC', 'RPC struct is bad'],
  ['ERPCMISMATCH', 'RPC version wrong'],
  ['EPROGUNAVAIL', 'RPC prog. not avail'],
  ['EPROGMISMATCH', 'Program version wrong'],
  ['EPROCUNAVAIL', 'Bad procedure for program'],
  ['ENOLCK', 'No locks available'],
  ['ENOSYS', 'Function not implemented'],
  ['EFTYPE', 'Inappropriate file type or format'],
  ['EAUTH', 'Authentication error'],
  ['ENEEDAUTH', 'Need authenticator'],
  ['EIDRM', 'Identifier removed'],
  ['ENOMSG', 'No message of desired type'],
  ['EOVERFLOW', 'Value too large to be stored in data type'],
  ['EILSEQ', 'Illegal byte sequence'],
  ['ENOTSUP', 'Not supported'],
  ['ECANCELED', 'Operation canceled'],
  ['EBADMSG', 'Bad or corrupt message'],
  ['ENODATA', 'No message available'],
  ['ENOSR', 'No STREAM resources'],
  ['ENOSTR', 'Not a STREAM'],
  ['ETIME', 'STREAM ioctl timeout'],
  ['ENOATTR', 'Attribute not found'],
  ['EMULTIHOP', 'Multihop attempted'],
  ['ENOLINK', 'Link has been severed'],
  ['EPROTO', 'Protocol error'],
];

/** The symbolic name of an errno (`'ECONNREFUSED'`), or `'E<n>'` if unknown. */
export function errnoName(errno: number): string {
  const e = TABLE[errno];
  return e !== undefined && errno > 0 ? e[0] : `E${errno}`;
}

/** strerror(3): the message for an errno. */
export function strerror(errno: number): string {
  const e = TABLE[errno];
  return e !== undefined ? e[1] : `Unknown error: ${errno}`;
}

/** The errno for a symbolic name, or undefined. */
export function errnoByName(code: string): number | undefined {
  for (let i = 1; i < TABLE.length; i++) if (TABLE[i]![0] === code) return i;
  return undefined;
}

/**
 * What a failed system call throws: `errno` is NetBSD's number, `code` its
 * name, `syscall` the call that failed, as in Node's SystemError.
 */
export class SyscallError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;

  constructor(errno: number, syscall: string, detail?: string) {
    super(`${errnoName(errno)}: ${strerror(errno)}, ${syscall}${detail !== undefined ? ` (${detail})` : ''}`);
    this.name = 'SyscallError';
    this.errno = errno;
    this.code = errnoName(errno);
    this.syscall = syscall;
  }
}
