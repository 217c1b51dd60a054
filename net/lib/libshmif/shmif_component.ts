/*
 * libshmif as a component (NetBSD's shmif_component.c): at NET_IF it
 * attaches the shmif cloner, so "ifconfig shmifN create" works.
 *
 * Place in the packet path: none; it wires the driver in.  The buses are
 * not module state: the caller makes a ShmifNet and gives the same one to
 * every kernel that should share its buses:
 *
 *   const net = new ShmifNet();
 *   const comps = [rumpnet_component, rumpnet_net_component, rumpnet_shmif_component(net)];
 *   const a = await rump_init({ host: world.host('a'), components: comps });
 *   const b = await rump_init({ host: world.host('b'), components: comps });
 *   // in each: ifconfig shmif0 create; ifconfig shmif0 linkstr wire0; ifconfig shmif0 up
 *   net.bus('wire0').setFaults({ seed: 7, drop: 0.1 });
 */

import type { KernelComponent } from '../../../librump/rumpkern/rump.ts';
import { if_clone_attach } from '../libnet/if.ts';
import { shmif_cloner } from './if_shmif.ts';
import type { ShmifNet } from './shmif_bus.ts';

export { ShmifNet, ShmifBus, shmif_bus_pcap } from './shmif_bus.ts';
export type { ShmifFaults, ShmifBusOptions, ShmifBusStats, ShmifCaptureHook, ShmifCaptureStage, ShmifPort, ShmifPortStats } from './shmif_bus.ts';
export { rump_shmif_create } from './if_shmif.ts';

/** The shmif component for kernels meeting on net's buses. */
export function rumpnet_shmif_component(net: ShmifNet): KernelComponent {
  return {
    name: 'rumpnet_shmif',
    provides: ['shmif'],
    needs: ['ifnet'],
    init: {
      NET_IF: (k) => { if_clone_attach(k, shmif_cloner(net)); },
    },
  };
}
