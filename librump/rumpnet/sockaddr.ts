/*
 * struct sockaddr in NetBSD's byte layout (sa_len, sa_family, data), and
 * the conversions between it and the objects users pass to the socket
 * calls.  The kernel moves addresses as these bytes (MT_SONAME mbufs in
 * receive buffers, pr_bind/pr_connect arguments), as NetBSD does.
 */

import { AF_INET, AF_LOCAL, type Sockaddr, type SockaddrIn, type SockaddrUn } from '../../include/socket.ts';

export const SOCKADDR_IN_LEN = 16;
/** sizeof(struct sockaddr_un): sun_len, sun_family, 104 bytes of path. */
export const SOCKADDR_UN_LEN = 106;
export const SUN_PATH_MAX = 104;

/** A sockaddr_in for addr (uint32, host order) and port. */
export function sockaddr_in(addr: number, port: number): Uint8Array {
  const sa = new Uint8Array(SOCKADDR_IN_LEN);
  sa[0] = SOCKADDR_IN_LEN;
  sa[1] = AF_INET;
  sa[2] = (port >>> 8) & 0xff;
  sa[3] = port & 0xff;
  sa[4] = (addr >>> 24) & 0xff;
  sa[5] = (addr >>> 16) & 0xff;
  sa[6] = (addr >>> 8) & 0xff;
  sa[7] = addr & 0xff;
  return sa;
}

/** The family of a sockaddr, or -1 if it is too short to have one. */
export function sa_family(sa: Uint8Array): number {
  return sa.length >= 2 ? sa[1]! : -1;
}

/** Port and address of a sockaddr_in; null if it is not one. */
export function sockaddr_in_parse(sa: Uint8Array): { port: number; addr: number } | null {
  if (sa.length < 8 || sa[1] !== AF_INET || sa[0]! < 8) return null;
  return {
    port: (sa[2]! << 8) | sa[3]!,
    addr: ((sa[4]! << 24) | (sa[5]! << 16) | (sa[6]! << 8) | sa[7]!) >>> 0,
  };
}

/** A sockaddr_un for a path (UTF-8, at most SUN_PATH_MAX bytes); null if too long. */
export function sockaddr_un(path: string): Uint8Array | null {
  const p = new TextEncoder().encode(path);
  if (p.length > SUN_PATH_MAX) return null;
  const sa = new Uint8Array(2 + p.length);
  sa[0] = sa.length;
  sa[1] = AF_LOCAL;
  sa.set(p, 2);
  return sa;
}

export function sockaddr_un_path(sa: Uint8Array): string | null {
  if (sa.length < 2 || sa[1] !== AF_LOCAL) return null;
  const end = Math.min(sa[0]!, sa.length);
  let n = 2;
  while (n < end && sa[n] !== 0) n++;
  return new TextDecoder().decode(sa.subarray(2, n));
}

function parse_quad(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let a = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    a = a * 256 + v;
  }
  return a >>> 0;
}

function format_quad(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** A user's sockaddr object as bytes; null if malformed (EINVAL for the caller). */
export function sockaddr_from_user(sa: Sockaddr): Uint8Array | null {
  if ('sin_family' in sa && sa.sin_family === AF_INET) {
    const s: SockaddrIn = sa;
    const addr = parse_quad(s.sin_addr);
    if (addr === null || !Number.isInteger(s.sin_port) || s.sin_port < 0 || s.sin_port > 0xffff) return null;
    return sockaddr_in(addr, s.sin_port);
  }
  if ('sun_family' in sa && sa.sun_family === AF_LOCAL) return sockaddr_un((sa as SockaddrUn).sun_path);
  return null;
}

/** Bytes back to a user's sockaddr object (null for an unknown family). */
export function sockaddr_to_user(sa: Uint8Array | null): Sockaddr | null {
  if (sa === null) return null;
  const fam = sa_family(sa);
  if (fam === AF_INET) {
    const p = sockaddr_in_parse(sa)!;
    return { sin_family: AF_INET, sin_port: p.port, sin_addr: format_quad(p.addr) };
  }
  if (fam === AF_LOCAL) return { sun_family: AF_LOCAL, sun_path: sockaddr_un_path(sa) ?? '' };
  return null;
}
