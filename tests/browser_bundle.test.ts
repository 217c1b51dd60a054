/*
 * DESIGN.md keeps every host access in rumpuser: the kernel and the sim
 * host must bundle for a browser, with no node: module and no Buffer.
 */
import { describe, it, expect } from 'vitest';
import { buildBrowserKernel } from '../bin/build.ts';

describe('browser bundle', () => {
  it('the kernel with the sim host bundles for the browser without node: imports', async () => {
    expect(await buildBrowserKernel(undefined)).toBe(0);
  });
});
