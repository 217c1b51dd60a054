/*
 * rump.sysctl: get or set kernel state (NetBSD's sysctl(8)) through the
 * __sysctl syscall of a rump kernel.
 *
 *   rump.sysctl [-dneq] name ...           print "name = value"
 *   rump.sysctl [-neq] -w name=value ...   set, print "name: old -> new"
 *   rump.sysctl [-dne] -a                  every variable
 *
 * Names are resolved level by level (CTL_QUERY), so a wrong one gets
 * sysctl(8)'s "third level name 'foo' in 'net.inet.foo' is invalid" and
 * a value is parsed for the node's type.  Structures that netstat shows
 * (statistics, PCB lists, the routing dumps) are not printed: asked for by
 * name, they say "use 'netstat' to view this information", as NetBSD's.
 * Other structures print as "name = field = value, ...", except
 * kern.clockrate and kern.boottime, which print as sysctl(8) prints them.
 * Exit status 1 if anything went wrong.
 */

import type { SysApi } from '../include/sysapi.ts';
import type { ToolIO } from './tool.ts';
import {
  EINVAL, ENOENT, ENOPROTOOPT, ENOTDIR, EOPNOTSUPP, EPERM, EPROTONOSUPPORT, ERANGE, strerror,
} from '../include/errno.ts';
import {
  CTLFLAG_HEX, CTLFLAG_READWRITE, CTLTYPE_BOOL, CTLTYPE_INT, CTLTYPE_NODE, CTLTYPE_QUAD, CTLTYPE_STRING,
  CTLTYPE_STRUCT,
} from '../include/sysctl.ts';
import { errnoOf, getopt } from './lib/toolutil.ts';
import { SysctlTree, type SysctlNodeRef } from './lib/sysctlutil.ts';

const USAGE = 'usage:\trump.sysctl [-dneq] variable ...\n' +
  '\trump.sysctl [-neq] -w variable=value ...\n' +
  '\trump.sysctl [-dne] -a\n';

/* Structures only netstat (or another tool) shows, by sysctl(8)'s own table. */
const OTHER: ReadonlyArray<readonly [RegExp, string]> = [
  [/^net\.[^.]+\.[^.]+\.pcblist$/, "netstat' or 'sockstat"],
  [/^net\.inet\.[^.]+\.stats$/, 'netstat'],
  [/^net\.route\./, 'netstat'],
];

interface Flags {
  n: boolean;
  q: boolean;
  d: boolean;
  eq: string;
}

class SysctlRun {
  errs = 0;
  constructor(readonly sys: SysApi, readonly io: ToolIO, readonly tree: SysctlTree, readonly f: Flags) {}

  perror(msg: string): void {
    this.io.err(`sysctl: ${msg}\n`);
    this.errs++;
  }

  /* sysctlerror: a failed read; "not available" for the soft errors when the user asked by name. */
  readerror(name: string, e: unknown, req: boolean): void {
    const n = errnoOf(e);
    const soft = [ENOENT, ENOTDIR, EINVAL, EOPNOTSUPP, ENOPROTOOPT, EPROTONOSUPPORT].includes(n);
    if (soft) {
      if (req) this.perror(`${name}: the value is not available (${strerror(n)})`);
      return;
    }
    this.perror(`${name}: ${n !== 0 ? strerror(n) : String(e)}`);
  }

  /** Print node and everything below it; req is true for a node the user named. */
  async print(node: SysctlNodeRef, req: boolean): Promise<void> {
    if (this.f.d) {
      for await (const leaf of this.tree.leaves(node)) {
        this.io.out(this.f.n ? `${leaf.desc || '(no description)'}\n` : `${leaf.name}: ${leaf.desc || '(no description)'}\n`);
      }
      return;
    }
    if (node.type === CTLTYPE_NODE) {
      for await (const leaf of this.tree.leaves(node)) await this.printLeaf(leaf, false);
      return;
    }
    await this.printLeaf(node, req);
  }

  async printLeaf(node: SysctlNodeRef, req: boolean): Promise<void> {
    if (node.type === CTLTYPE_STRUCT) {
      const other = OTHER.find(([re]) => re.test(node.name));
      if (other !== undefined) {
        if (req) this.perror(`${node.name}: use '${other[1]}' to view this information`);
        return;
      }
    }
    let v: unknown;
    try {
      v = await this.sys.sysctl(node.mib);
    } catch (e) {
      this.readerror(node.name, e, req);
      return;
    }
    if (this.f.q) return;
    if (node.type === CTLTYPE_STRUCT) {
      this.io.out(this.structLine(node, v));
      return;
    }
    this.io.out(`${this.f.n ? '' : node.name + this.f.eq}${format(node, v)}\n`);
  }

  structLine(node: SysctlNodeRef, v: unknown): string {
    const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
    if (node.name === 'kern.clockrate') {
      return `${this.f.n ? '' : node.name + ': '}tick = ${o['tick']}, tickadj = ${o['tickadj']}, hz = ${o['hz']}, ` +
        `profhz = ${o['profhz']}, stathz = ${o['stathz']}\n`;
    }
    if (node.name === 'kern.boottime' && typeof o['tv_sec'] === 'number') {
      if (this.f.n) return `${o['tv_sec']}\n`;
      return `${node.name}${this.f.eq}${ctime(o['tv_sec'])}\n`;
    }
    return `${this.f.n ? '' : node.name + this.f.eq}${fields(o, 0)}\n`;
  }

  /** name=value with -w. */
  async write(node: SysctlNodeRef, text: string): Promise<void> {
    if (node.type === CTLTYPE_NODE) {
      await this.print(node, true);
      return;
    }
    if (node.type === CTLTYPE_STRUCT) {
      this.perror(`${node.name}: ${strerror((node.flags & CTLFLAG_READWRITE) === CTLFLAG_READWRITE ? EINVAL : EPERM)}`);
      return;
    }
    const parsed = parse(node, text);
    if ('error' in parsed) {
      this.perror(parsed.error);
      return;
    }
    let old: unknown;
    try {
      old = await this.sys.sysctl(node.mib, parsed.value);
    } catch (e) {
      const n = errnoOf(e);
      this.perror(`${node.name}: ${n !== 0 ? strerror(n) : String(e)}`);
      return;
    }
    if (this.f.q) return;
    if (this.f.n) this.io.out(`${format(node, parsed.value)}\n`);
    else this.io.out(`${node.name}: ${format(node, old)} -> ${format(node, parsed.value)}\n`);
  }
}

/** A scalar as sysctl(8) prints it: %d, %#x for HEX nodes, 0/1 for bools. */
function format(node: SysctlNodeRef, v: unknown): string {
  const hex = (node.flags & CTLFLAG_HEX) !== 0;
  switch (node.type) {
    case CTLTYPE_INT:
      return hex && typeof v === 'number' ? `0x${(v >>> 0).toString(16)}` : String(v);
    case CTLTYPE_QUAD:
      return hex && typeof v === 'bigint' ? `0x${BigInt.asUintN(64, v).toString(16)}` : String(v);
    case CTLTYPE_BOOL:
      return v === true ? '1' : '0';
    default:
      return String(v);
  }
}

function fields(o: object, depth: number): string {
  return Object.entries(o).map(([k, x]) => `${k} = ${field(x, depth + 1)}`).join(', ');
}

function field(x: unknown, depth: number): string {
  if (typeof x !== 'object' || x === null) return String(x);
  if (depth > 4) return '...';
  if (Array.isArray(x)) return `[${x.map((i) => field(i, depth + 1)).join(', ')}]`;
  if (ArrayBuffer.isView(x)) return `[${Array.from(x as Uint8Array).join(', ')}]`;
  return `{${fields(x, depth)}}`;
}

/* ctime(3) without the newline, in UTC: "Thu Jan  1 00:00:00 2026". */
function ctime(sec: number): string {
  const d = new Date(sec * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const mons = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${mons[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2)} ` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/* strtouq(3) with base 0: decimal, 0x hex, leading-0 octal, an optional sign. */
const NUMBER_RE = /^[-+]?(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i;

function toBigInt(t: string): bigint {
  const neg = t.startsWith('-');
  const body = t.replace(/^[-+]/, '');
  const v = /^0x/i.test(body) ? BigInt(body) : /^0[0-7]+$/.test(body) ? BigInt(`0o${body.slice(1)}`) : BigInt(body);
  return neg ? -v : v;
}

/** The value to write for text, or sysctl(8)'s complaint. */
function parse(node: SysctlNodeRef, text: string): { value: number | bigint | boolean | string } | { error: string } {
  if (node.type === CTLTYPE_STRING) return { value: text };
  const t = text.trim();
  if (!NUMBER_RE.test(t)) return { error: `${text}: not a number` };
  const v = toBigInt(t);
  switch (node.type) {
    case CTLTYPE_BOOL:
      return { value: v !== 0n };
    case CTLTYPE_QUAD:
      if (v < -(1n << 63n) || v >= 1n << 64n) return { error: `${text}: ${strerror(ERANGE)}` };
      return { value: BigInt.asIntN(64, v) };
    default:
      /* An int takes any 32-bit pattern, as sysctl(8)'s u_int does. */
      if (v < -(1n << 31n) || v >= 1n << 32n) return { error: `${text}: ${strerror(ERANGE)}` };
      return { value: Number(BigInt.asIntN(32, v)) };
  }
}

export async function main(sys: SysApi, argv: readonly string[], io: ToolIO): Promise<number> {
  const g = getopt(argv, 'AadeMnqrwx');
  if (g.error !== null) {
    io.err(`sysctl: ${g.error}\n${USAGE}`);
    return 1;
  }
  const has = (c: string): boolean => g.opts.some((o) => o.opt === c);
  const f: Flags = { n: has('n'), q: has('q'), d: has('d'), eq: has('e') ? '=' : ' = ' };
  const all = has('a') || has('A');
  const wflag = has('w');
  if ((all && f.q) || (!all && g.rest.length === 0)) {
    io.err(USAGE);
    return 1;
  }
  const tree = new SysctlTree(sys);
  const run = new SysctlRun(sys, io, tree, f);
  try {
    if (all) {
      await run.print({ mib: [], name: '', type: CTLTYPE_NODE, flags: 0, desc: '' }, false);
      return run.errs !== 0 ? 1 : 0;
    }
    for (const arg of g.rest) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg : arg.slice(0, eq);
      const node = await tree.resolve(name);
      if ('error' in node) {
        run.perror(node.error);
        continue;
      }
      if (eq < 0) {
        await run.print(node, true);
        continue;
      }
      if (!wflag) {
        io.err('sysctl: Must specify -w to set variables\n');
        return 1;
      }
      await run.write(node, arg.slice(eq + 1));
    }
  } catch (e) {
    run.perror(`${errnoOf(e) !== 0 ? strerror(errnoOf(e)) : String(e)}`);
  }
  return run.errs !== 0 ? 1 : 0;
}
