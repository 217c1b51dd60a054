/*
 * Helpers shared by the inet and TCP tests: addresses, a lab of kernels on
 * shmif buses, ifconfig through ioctls, ICMP echo building, and a receive
 * with a timeout.
 */

import { simWorld, bootSim } from './kernel.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { inet_pton4 } from '../net/lib/libnetinet/in.ts';
import { in_cksum } from '../net/lib/libnetinet/in_cksum.ts';
import type { SimWorld } from '../librump/rumpuser/sim.ts';
import { AF_INET, SOCK_DGRAM, SOL_SOCKET, SO_RCVTIMEO, type SockaddrIn } from '../include/socket.ts';
import { SIOCAIFADDR, SIOCIFCREATE, SIOCSLINKSTR } from '../include/if.ts';

export function sin(addr: string, port = 0): SockaddrIn {
  return { sin_family: AF_INET, sin_port: port, sin_addr: addr };
}

export function a4(s: string): number {
  return inet_pton4(s)!;
}

export interface Lab {
  w: SimWorld;
  net: ShmifNet;
  boot(name: string): Promise<Kernel>;
}

export function lab(seed = 1): Lab {
  const w = simWorld({ seed });
  const net = new ShmifNet();
  const comps = [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(net)];
  return { w, net, boot: (name) => bootSim(w, { name, components: comps }) };
}

/** ifconfig IF create; ifconfig IF linkstr BUS; ifconfig IF inet ADDR netmask MASK (which brings it up). */
export async function ifconfig(k: Kernel, ifname: string, bus: string, addr: string, mask = '255.255.255.0'): Promise<void> {
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  if (ifunit(k, ifname) === null) {
    await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: ifname });
    await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: ifname, ifd_data: bus });
  }
  await k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: ifname, ifra_addr: sin(addr), ifra_mask: sin(mask) });
  await k.sys.close(s);
}

export function echo(id: number, seq: number, data: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + data.length);
  p[0] = 8;
  p[4] = id >>> 8;
  p[5] = id & 0xff;
  p[6] = seq >>> 8;
  p[7] = seq & 0xff;
  p.set(data, 8);
  const c = in_cksum(p, 0, p.length);
  p[2] = c >>> 8;
  p[3] = c & 0xff;
  return p;
}

export async function recvWithin(k: Kernel, s: number, ms = 5000, size = 65536): Promise<{ data: Uint8Array; from: SockaddrIn }> {
  await k.sys.setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, { tv_sec: Math.floor(ms / 1000), tv_usec: (ms % 1000) * 1000 });
  const buf = new Uint8Array(size);
  const r = await k.sys.recvfrom(s, buf);
  return { data: buf.slice(0, r.n), from: r.from as SockaddrIn };
}
