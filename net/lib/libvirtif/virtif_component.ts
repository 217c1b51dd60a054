/*
 * libvirtif as a component: at NET_IF it attaches the virt cloner, so
 * "ifconfig virtN create" opens host TAP device tunN (NetBSD's if_virt,
 * a module there, a component here so that boot checks it like the rest).
 *
 * Place in the packet path: none; it wires the driver to its host half.
 * It provides 'virtif', which libsockin refuses to share a kernel with.
 *
 *   const k = await rump_init({ host: new NodeHost(), components: [
 *     rumpnet_component, rumpnet_net_component, rumpnet_netinet_component,
 *     rumpnet_virtif_component] });
 *   // ifconfig virt0 create            (opens TAP tun0)
 *   // ifconfig virt0 linkstr mytap0    (or moves it to TAP mytap0 while down)
 *   // ifconfig virt0 inet 10.98.0.2 netmask 255.255.255.0
 *
 * Kernels of one process whose interfaces name the same device share it
 * (the host half's process-wide table, virtif_user.ts): each gets the
 * frames its filter takes, and they hear each other as on one segment.
 *
 * virtif_component_create() puts another host half behind the driver (a
 * fake TAP for tests on the sim host) or asks for NetBSD's
 * RUMP_VIF_LINKSTR behaviour: create opens nothing and the device comes
 * with the linkstr, so no tunN is ever touched.  The kernel gives
 * components no halt hook, so a thread sleeps until the halt (or a
 * panic) and then closes every host device.
 */

import { kthread_create, type KernelComponent } from '../../../librump/rumpkern/rump.ts';
import { PCATCH, tsleep } from '../../../librump/rumpkern/ltsleep.ts';
import { if_clone_attach } from '../libnet/if.ts';
import { virtif_cloner, virtif_fini, VirtifState, type VirtifHyperFactory } from './if_virt.ts';
import { virtif_user_create } from './virtif_user.ts';

export { VirtifState, VirtifSoftc, VIRTIF_BASE } from './if_virt.ts';
export type { VirtifHyperFactory } from './if_virt.ts';

export interface VirtifComponentOptions {
  /** The host half; default the Node/Linux one (virtif_user.ts). */
  hyper?: VirtifHyperFactory;
  /** NetBSD's RUMP_VIF_LINKSTR: creating virtN opens nothing; SIOCSLINKSTR names the device. */
  linkstr?: boolean;
}

/** A virtif component with another host half, or with the linkstr behaviour. */
export function virtif_component_create(opts: VirtifComponentOptions = {}): KernelComponent {
  const mkhyp: VirtifHyperFactory = opts.hyper ?? ((k, up) => virtif_user_create(k.hyp, up));
  return {
    name: 'rumpnet_virtif',
    provides: ['virtif'],
    needs: ['ifnet'],
    init: {
      NET_IF: (k) => {
        const st = new VirtifState(k, mkhyp, opts.linkstr === true);
        if_clone_attach(k, virtif_cloner(st));
        kthread_create(k, 'virtif', async (l) => {
          try {
            while (!k.dying) await tsleep(l, st, PCATCH, 'virtiffini', 0);
          } finally {
            virtif_fini(st);
          }
        });
      },
    },
  };
}

/** libvirtif on Linux TAP devices through the native host half. */
export const rumpnet_virtif_component: KernelComponent = virtif_component_create();
