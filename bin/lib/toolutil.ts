/*
 * What every rump.* tool needs besides the syscalls: BSD getopt, the errno
 * of a failed call (a SyscallError from an embedded kernel, or the same
 * shape rebuilt by the syscall proxy client), err(3)-style messages, and
 * IPv4 address parsing.  Tools are user programs: they reach the kernel
 * only through SysApi.
 */

import { strerror } from '../../include/errno.ts';
import type { ToolIO } from '../tool.ts';

/** One parsed option: its letter and, for options taking one, the argument. */
export interface Opt {
  opt: string;
  arg: string;
}

export interface Getopt {
  opts: Opt[];
  /** The operands after the options. */
  rest: string[];
  /** The message for a bad option ("illegal option -- x"), or null. */
  error: string | null;
}

/**
 * BSD getopt(3): optstring lists the letters, a letter followed by ':'
 * takes an argument (attached, "-c3", or the next word).  Parsing stops at
 * the first operand or at "--".
 */
export function getopt(argv: readonly string[], optstring: string): Getopt {
  const opts: Opt[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.length < 2 || a[0] !== '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const at = optstring.indexOf(c);
      if (c === ':' || at < 0) return { opts, rest: [], error: `illegal option -- ${c}` };
      if (optstring[at + 1] !== ':') {
        opts.push({ opt: c, arg: '' });
        continue;
      }
      let arg = a.slice(j + 1);
      if (arg === '') {
        if (i + 1 >= argv.length) return { opts, rest: [], error: `option requires an argument -- ${c}` };
        arg = argv[++i]!;
      }
      opts.push({ opt: c, arg });
      break;
    }
  }
  return { opts, rest: argv.slice(i), error: null };
}

/** The errno a failed syscall carries, or 0 if the error is something else. */
export function errnoOf(e: unknown): number {
  if (typeof e === 'object' && e !== null && 'errno' in e) {
    const n = (e as { errno: unknown }).errno;
    if (typeof n === 'number' && Number.isInteger(n)) return n;
  }
  return 0;
}

/** strerror(3) of a failed call, or the error's own message. */
export function errstr(e: unknown): string {
  const n = errnoOf(e);
  if (n !== 0) return strerror(n);
  return e instanceof Error ? e.message : String(e);
}

/** An err(3)/warn(3) line on stderr: "prog: what: message". */
export function warn(io: ToolIO, prog: string, what: string, e: unknown): void {
  io.err(`${prog}: ${what}: ${errstr(e)}\n`);
}

/** A warnx(3) line on stderr: "prog: message". */
export function warnx(io: ToolIO, prog: string, msg: string): void {
  io.err(`${prog}: ${msg}\n`);
}

/**
 * inet_aton(3): a dotted quad, or one of the short forms BSD accepts
 * ("10.1" is 10.0.0.1, "10" is 0.0.0.10), each part decimal, octal with a
 * leading 0, or hex with 0x.  Returns the address or null.
 */
export function inet_aton(s: string): number | null {
  const parts = s.split('.');
  if (parts.length < 1 || parts.length > 4) return null;
  const v: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]+$/i.test(p)) n = parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) n = parseInt(p, 8);
    else if (/^[1-9][0-9]*$/.test(p)) n = parseInt(p, 10);
    else return null;
    v.push(n);
  }
  const last = v[v.length - 1]!;
  const lastmax = [0xffffffff, 0xffffff, 0xffff, 0xff][v.length - 1]!;
  if (last > lastmax) return null;
  let a = 0;
  for (let i = 0; i < v.length - 1; i++) {
    if (v[i]! > 255) return null;
    a += v[i]! * 2 ** (24 - 8 * i);
  }
  return (a + last) >>> 0;
}

export function inet_ntoa(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** A prefix length's netmask (0..32). */
export function plen2mask(plen: number): number {
  return plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
}

/** A netmask's prefix length, or -1 if it is not contiguous. */
export function mask2plen(mask: number): number {
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  return 32 - Math.log2(inv + 1);
}

/** The classful mask of an address (what BSD tools assume without one). */
export function classmask(a: number): number {
  if ((a & 0x80000000) === 0) return 0xff000000;
  if ((a & 0xc0000000) === 0x80000000) return 0xffff0000;
  return 0xffffff00;
}

/** "s" unless n is 1, as netstat's plural(). */
export function plural(n: number): string {
  return n === 1 ? '' : 's';
}

/** "es" unless n is 1, as netstat's plurales(). */
export function plurales(n: number): string {
  return n === 1 ? '' : 'es';
}

/** "y"/"ies", as netstat's pluraly(). */
export function pluralies(n: number): string {
  return n === 1 ? 'y' : 'ies';
}

/** Names for the set bits of v, NetBSD's "%b" style: "<UP,BROADCAST,RUNNING>". */
export function bitnames(v: number, names: ReadonlyArray<readonly [number, string]>): string {
  const set = names.filter(([bit]) => (v & bit) !== 0).map(([, n]) => n);
  return set.length === 0 ? '' : `<${set.join(',')}>`;
}
