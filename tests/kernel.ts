/*
 * Test helpers: boot kernels on a simulated world and make any unexpected
 * panic fail the test that caused it.
 */

import { afterEach, expect } from 'vitest';
import { SimWorld, type SimWorldOptions } from '../librump/rumpuser/sim.ts';
import { rump_init, type Kernel, type RumpInitOptions } from '../librump/rumpkern/rump.ts';

const worlds: SimWorld[] = [];
const kernels: Kernel[] = [];
let panicsExpected = false;

/** A simulated world; its kernels' panics fail the test unless expectPanics() was called. */
export function simWorld(opts: SimWorldOptions = {}): SimWorld {
  const w = new SimWorld(opts);
  worlds.push(w);
  return w;
}

/** Boot a kernel on a new host of world w. */
export async function bootSim(w: SimWorld, opts: Partial<RumpInitOptions> = {}): Promise<Kernel> {
  const k = await rump_init({ host: w.host(opts.name), ...opts });
  kernels.push(k);
  return k;
}

/** This test panics kernels on purpose. */
export function expectPanics(): void {
  panicsExpected = true;
}

afterEach(async () => {
  const panics = worlds.flatMap((w) => w.panics);
  const expected = panicsExpected;
  panicsExpected = false;
  for (const k of kernels.splice(0)) if (!k.dead) await k.halt();
  worlds.length = 0;
  if (!expected) expect(panics.map((p) => `${p.kernel}: ${p.message}`)).toEqual([]);
});
