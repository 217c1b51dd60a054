/*
 * libsockin as a component (NetBSD's sys/rump/net/lib/libsockin): at NET
 * it attaches sockin's PF_INET (UDP and TCP over host sockets) with the
 * Node host half.  It owns PF_INET without any interface, so it cannot be
 * loaded with libnet (ifnet), libnetinet (PF_INET), shmif or virtif: the
 * component check refuses such a boot with an error naming the conflict,
 * as NetBSD's linker does with sockin's clashing symbols.  It needs a real
 * host (host sockets run on real time), so a sim host is refused at boot.
 */

import type { KernelComponent } from '../../../librump/rumpkern/rump.ts';
import type { Sockinpcb } from './sockin.ts';
import { sockin_init } from './sockin.ts';
import type { SockinHypercalls, SockinUpcalls } from './sockin_hyper.ts';
import { sockin_user_create } from './sockin_user.ts';

/** A sockin component over another host half (tests, other hosts). */
export function sockin_component_create(
  mkhyp: (up: SockinUpcalls<Sockinpcb>) => SockinHypercalls<Sockinpcb>,
): KernelComponent {
  return {
    name: 'rumpnet_sockin',
    provides: ['domain:PF_INET'],
    needs: ['faction:net'],
    conflicts: ['ifnet', 'shmif', 'virtif'],
    init: {
      NET: (k) => {
        if (k.hyp.hostkind === 'sim') {
          throw new Error('rumpnet_sockin needs a real host (host sockets run on real time): boot it on NodeHost');
        }
        sockin_init(k, mkhyp);
      },
    },
  };
}

/** libsockin on Node's net and dgram. */
export const rumpnet_sockin_component: KernelComponent = sockin_component_create((up) => sockin_user_create(up));
