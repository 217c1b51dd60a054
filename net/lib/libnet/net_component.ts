/*
 * libnet as a component (NetBSD's sys/rump/net/lib/libnet/net_component.c):
 * the interface list, the routing table and lo0 of one kernel.
 *
 * Place in the packet path: none itself; it builds what the path runs
 * through.  At NET: ifinit (the interface list, ifioctl for sockets), the
 * routing table as k.rt, which ip_output consults, and the routing socket
 * (PF_ROUTE, net.route sysctls: rtsock.ts); interfaces that go away take
 * their routes with them (a detach hook).  At NET_IF: lo0,
 * left down: libnetinet gives it 127.0.0.1/8 and brings it up at
 * NET_IFCFG, so libnet alone has a lo0 that is down, as in NetBSD.
 */

import type { Kernel, KernelComponent } from '../../../librump/rumpkern/rump.ts';
import { panic } from '../../../librump/rumpkern/subr_prf.ts';
import { ifinit, ifnet_of } from './if.ts';
import { loopattach } from './if_loop.ts';
import { RouteTable } from './route.ts';
import { rtsock_init } from './rtsock.ts';

declare module '../../../librump/rumpkern/rump.ts' {
  interface Kernel {
    /** The IPv4 routing table; set when libnet boots. */
    rt?: RouteTable;
  }
}

/** The routing table of k. */
export function rt_of(k: Kernel): RouteTable {
  const rt = k.rt;
  if (rt === undefined) panic(k, 'routing used in a kernel booted without rumpnet_net');
  return rt;
}

function net_init(k: Kernel): void {
  /* A component earlier at this level may already have needed the list. */
  if (k.ifnet === undefined) ifinit(k);
  const rt = new RouteTable({ panic: (msg: string): never => panic(k, msg) });
  k.rt = rt;
  ifnet_of(k).detachhooks.push((ifp) => { rt.rt_if_detach(ifp); });
  rtsock_init(k, rt);
}

export const rumpnet_net_component: KernelComponent = {
  name: 'rumpnet_net',
  provides: ['ifnet', 'routing', 'domain:PF_ROUTE'],
  needs: ['faction:net'],
  init: {
    NET: (k) => { net_init(k); },
    NET_IF: (k) => { loopattach(k); },
  },
};
