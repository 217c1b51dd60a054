/*
 * Finding sysctl nodes from a user program (NetBSD's sysctlgetmibinfo and
 * sysctlnametomib in libc): names are resolved one level at a time with
 * CTL_QUERY, which lists a node's children with their numbers and types,
 * so that a tool knows the type of what it reads or writes and can say
 * which part of a bad name is wrong.  Answers are cached per Sysctl
 * object (one tool run).
 */

import type { SysApi } from '../../include/sysapi.ts';
import { CTL_QUERY, CTLTYPE_NODE, type CtlType, type SysctlQueryNode } from '../../include/sysctl.ts';

/** A node found by name: its MIB, its canonical dotted name, type and flags. */
export interface SysctlNodeRef {
  mib: number[];
  name: string;
  type: CtlType;
  flags: number;
  desc: string;
}

const LEVELS = ['top', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth',
  'eleventh', 'twelfth'];

export class SysctlTree {
  private readonly cache = new Map<string, SysctlQueryNode[]>();

  constructor(private readonly sys: SysApi) {}

  /** The children of the node at mib (the root for []). */
  async children(mib: readonly number[]): Promise<SysctlQueryNode[]> {
    const key = mib.join('.');
    let kids = this.cache.get(key);
    if (kids === undefined) {
      kids = (await this.sys.sysctl([...mib, CTL_QUERY])) as SysctlQueryNode[];
      this.cache.set(key, kids);
    }
    return kids;
  }

  /**
   * Resolve "net.inet.tcp.mss_ifmtu" (or with '/' separators, or numbers
   * for components) to its node.  A bad name gets sysctl(8)'s message,
   * e.g. "third level name 'foo' in 'net.inet.foo' is invalid".
   */
  async resolve(name: string): Promise<SysctlNodeRef | { error: string }> {
    const sep = /[./]/.exec(name)?.[0] ?? '.';
    const parts = name.split(sep).filter((p, i, a) => !(p === '' && (i === 0 || i === a.length - 1)));
    const mib: number[] = [];
    const names: string[] = [];
    let cur: SysctlNodeRef = { mib: [], name: '', type: CTLTYPE_NODE, flags: 0, desc: '' };
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      const bad = { error: `${LEVELS[Math.min(i, LEVELS.length - 1)]} level name '${p}' in '${name}' is invalid` };
      if (cur.type !== CTLTYPE_NODE) return bad;
      const kids = await this.children(mib);
      const kid = kids.find((c) => c.sysctl_name === p) ?? (/^\d+$/.test(p) ? kids.find((c) => c.sysctl_num === Number(p)) : undefined);
      if (kid === undefined) return bad;
      mib.push(kid.sysctl_num);
      names.push(kid.sysctl_name);
      cur = { mib: mib.slice(), name: names.join('.'), type: kid.sysctl_type, flags: kid.sysctl_flags, desc: kid.sysctl_desc };
    }
    return cur;
  }

  /** Every leaf at or below node, depth first in MIB order. */
  async *leaves(node: SysctlNodeRef): AsyncGenerator<SysctlNodeRef> {
    if (node.type !== CTLTYPE_NODE) {
      yield node;
      return;
    }
    for (const c of await this.children(node.mib)) {
      const child: SysctlNodeRef = {
        mib: [...node.mib, c.sysctl_num], name: node.name === '' ? c.sysctl_name : `${node.name}.${c.sysctl_name}`,
        type: c.sysctl_type, flags: c.sysctl_flags, desc: c.sysctl_desc,
      };
      yield* this.leaves(child);
    }
  }
}
