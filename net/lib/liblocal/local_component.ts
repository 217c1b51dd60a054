/*
 * liblocal: the local (unix) domain as a component (NetBSD's
 * sys/rump/net/lib/liblocal).  At NET it makes the kernel's local-domain
 * state, attaches PF_LOCAL to the domain list and publishes net.local.*.
 */

import type { KernelComponent } from '../../../librump/rumpkern/rump.ts';
import { net_of } from '../../../librump/rumpnet/net.ts';
import { localdomain_create, sysctl_net_local_setup, uipc_init } from './uipc_usrreq.ts';

export const rumplocal_component: KernelComponent = {
  name: 'rumplocal',
  provides: ['domain:PF_LOCAL'],
  needs: ['faction:net'],
  init: {
    NET: (k) => {
      const ls = uipc_init(k);
      net_of(k).domains.domain_attach(k, localdomain_create());
      sysctl_net_local_setup(k, ls);
    },
  },
};
