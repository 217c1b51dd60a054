/*
 * libbpf as a component (NetBSD's sys/rump/dev/lib/libbpf): at NET it
 * attaches the bpf character device switch and makes /dev/bpf, so
 * open("/dev/bpf") gives a packet capture descriptor (bpf(4)).  The
 * driver itself is net/lib/libnet/bpf.ts; it taps interfaces through
 * libnet's generic taps, hence the need for ifnet.
 *
 *   const k = await rump_init({ host, components: [rumpnet_component,
 *     rumpnet_net_component, rumpnet_netinet_component, rumpdev_bpf_component] });
 *   const fd = await k.sys.open('/dev/bpf', O_RDWR);
 *   await k.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'shmif0' });
 */

import type { KernelComponent } from '../../../librump/rumpkern/rump.ts';
import { bpf_init } from '../../../net/lib/libnet/bpf.ts';

export const rumpdev_bpf_component: KernelComponent = {
  name: 'rumpdev_bpf',
  provides: ['bpf'],
  needs: ['ifnet'],
  init: {
    NET: (k) => { bpf_init(k); },
  },
};
