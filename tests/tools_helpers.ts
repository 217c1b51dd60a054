/*
 * Helpers for the rump.* tool tests: run a tool's main() against an
 * embedded kernel's syscalls and collect what it prints, and a lab of two
 * kernels on one shmif bus (10.0.0.1 and 10.0.0.2).
 */

import type { ToolMain } from '../bin/tool.ts';
import type { SysApi } from '../include/sysapi.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { ifconfig, lab, type Lab } from './inet_helpers.ts';

export interface ToolRun {
  code: number;
  out: string;
  err: string;
}

/** Run main(sys, argv) and capture stdout, stderr and the exit status. */
export async function tool(main: ToolMain, sys: SysApi, ...argv: string[]): Promise<ToolRun> {
  let out = '';
  let err = '';
  const code = await main(sys, argv, { out: (t) => { out += t; }, err: (t) => { err += t; } });
  return { code, out, err };
}

export interface Pair {
  L: Lab;
  a: Kernel;
  b: Kernel;
}

/** Two kernels, a (10.0.0.1) and b (10.0.0.2), on bus0. */
export async function pair(seed = 1): Promise<Pair> {
  const L = lab(seed);
  const a = await L.boot('a');
  const b = await L.boot('b');
  await ifconfig(a, 'shmif0', 'bus0', '10.0.0.1');
  await ifconfig(b, 'shmif0', 'bus0', '10.0.0.2');
  return { L, a, b };
}
