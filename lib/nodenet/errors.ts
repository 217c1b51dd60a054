/*
 * Errors of the Node-compatible sockets (lib/nodenet), shaped like the
 * system errors of Node's net module: a message such as
 * "connect ECONNREFUSED 10.0.0.2:80" and the properties code, errno,
 * syscall, address and port.  They are made from the SyscallError the
 * syscall surface threw (kept as `cause`).  errno keeps the kernel's
 * NetBSD number (ECONNREFUSED is 61), where Node would give libuv's
 * negated host errno: code is the portable field, as in Node.
 */

import { strerror } from '../../include/errno.ts';

export class NetError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly address: string | undefined;
  readonly port: number | undefined;

  constructor(message: string, code: string, errno: number, syscall: string, address?: string, port?: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.address = address;
    this.port = port;
  }
}

/** An error from the syscall surface: it carries a code and an errno. */
function isSystemError(e: unknown): e is Error & { code: string; errno: number } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' &&
    typeof (e as { errno?: unknown }).errno === 'number';
}

/**
 * The Node-style error for a failed syscall: "SYSCALL CODE ADDRESS:PORT".
 * With describe, the errno's text follows the code, as Node words listen
 * errors ("listen EADDRINUSE: Address already in use 0.0.0.0:80").
 * Anything that is not a system error (a kernel panic) passes unchanged.
 */
export function netError(e: unknown, syscall: string, address?: string, port?: number, describe = false): Error {
  if (!isSystemError(e)) return e instanceof Error ? e : new Error(String(e));
  const where = address === undefined ? '' : port === undefined ? ` ${address}` : ` ${address}:${port}`;
  const text = describe ? `: ${strerror(e.errno)}` : '';
  return new NetError(`${syscall} ${e.code}${text}${where}`, e.code, e.errno, syscall, address, port, e);
}

/** Is e a system error with this code? */
export function hasCode(e: unknown, code: string): boolean {
  return isSystemError(e) && e.code === code;
}

/**
 * The kernel went away under the socket: it halted, or the process the
 * syscalls run in exited (a proxy client disconnected).  Sleeping
 * syscalls are woken with EINTR (no signals reach these syscalls, so
 * nothing else causes it) and later ones fail with ENXIO ("kernel
 * halted"; no socket call here raises ENXIO otherwise).  Like the sockets
 * of a Node process that exits, ours then close without an 'error'
 * event: there is no connection left to fail.
 */
export function kernelGone(e: unknown): boolean {
  return hasCode(e, 'EINTR') || hasCode(e, 'ENXIO');
}

/** Node's argument errors (ERR_SOCKET_BAD_PORT, ...): a code and a message. */
export function nodeError<E extends Error>(Ctor: new (message: string) => E, code: string, message: string): E & { code: string } {
  const e = new Ctor(message) as E & { code: string };
  e.code = code;
  return e;
}
