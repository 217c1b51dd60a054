/*
 * Helpers for the sockin tests: kernels on the real Node host (host
 * sockets need real time), halted after each test, and small host-side
 * peers on 127.0.0.1 only.
 */

import { afterEach } from 'vitest';
import * as net from 'node:net';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_sockin_component } from '../net/lib/libsockin/sockin_component.ts';
import { AF_INET, type SockaddrIn } from '../include/socket.ts';

const kernels: Kernel[] = [];
const cleanups: (() => void)[] = [];

export async function bootSockin(): Promise<Kernel> {
  const k = await rump_init({
    host: new NodeHost({ console: () => {} }),
    name: 'sockin',
    components: [rumpnet_component, rumpnet_sockin_component],
    lockdebug: 'panic',
  });
  kernels.push(k);
  return k;
}

/** Run fn after the test (host servers and sockets the test made). */
export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
}

afterEach(async () => {
  for (const f of cleanups.splice(0)) f();
  for (const k of kernels.splice(0)) {
    const panicked = k.panicstr;
    if (!k.dead) await k.halt();
    if (panicked !== null) throw new Error(`kernel panicked: ${panicked}`);
  }
});

export function sin(addr: string, port = 0): SockaddrIn {
  return { sin_family: AF_INET, sin_port: port, sin_addr: addr };
}

/** A port on 127.0.0.1 that nothing listens on (bound, read, released). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => { srv.listen(0, '127.0.0.1', r); });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => { srv.close(() => { r(); }); });
  return port;
}
