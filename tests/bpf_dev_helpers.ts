/*
 * Helpers for the bpf device tests: kernels with rumpdev_bpf on a shmif
 * bus (sim host), opening /dev/bpf on an interface, and decoding what a
 * read returns into records.
 */

import { expect } from 'vitest';
import { simWorld, bootSim } from './kernel.ts';
import { ifconfig } from './inet_helpers.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import type { SimWorld } from '../librump/rumpuser/sim.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { rumpdev_bpf_component } from '../dev/lib/libbpf/bpf_component.ts';
import { BIOCGBLEN, BIOCIMMEDIATE, BIOCSETF, BIOCSETIF, BPF_WORDALIGN, bpf_hdr_read, type BpfHdr } from '../include/bpf.ts';
import { O_RDWR } from '../include/syscall.ts';
import { bpf_compile } from '../net/lib/libnet/bpf_compile.ts';

export interface BpfLab {
  w: SimWorld;
  net: ShmifNet;
  ks: Kernel[];
}

/** Kernels named a, b, c... with 10.0.0.1, .2, .3... on shmif0 at bus0, each with /dev/bpf. */
export async function bpfLab(n = 2, seed = 1, opts: { latencyNs?: number } = {}): Promise<BpfLab> {
  const w = simWorld({ seed });
  const net = new ShmifNet({ bus: { latencyNs: opts.latencyNs ?? 100_000 } });
  const comps = [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(net), rumpdev_bpf_component];
  const ks: Kernel[] = [];
  for (let i = 0; i < n; i++) {
    const k = await bootSim(w, { name: String.fromCharCode(97 + i), components: comps });
    await ifconfig(k, 'shmif0', 'bus0', `10.0.0.${i + 1}`);
    ks.push(k);
  }
  return { w, net, ks };
}

/** open /dev/bpf, attach to ifname, optionally with a tcpdump expression and immediate mode. */
export async function bpfOpen(k: Kernel, ifname: string, opts: { expr?: string; immediate?: boolean } = {}): Promise<{ fd: number; blen: number }> {
  const fd = await k.sys.open('/dev/bpf', O_RDWR);
  if (opts.expr !== undefined) await k.sys.ioctl(fd, BIOCSETF, { bf_insns: bpf_compile(opts.expr) });
  await k.sys.ioctl(fd, BIOCSETIF, { ifr_name: ifname });
  if (opts.immediate === true) await k.sys.ioctl(fd, BIOCIMMEDIATE, 1);
  const blen = (await k.sys.ioctl(fd, BIOCGBLEN)) as number;
  return { fd, blen };
}

export interface BpfRecord {
  hdr: BpfHdr;
  /** Offset of the record in the read buffer. */
  off: number;
  data: Uint8Array;
}

/** Decode n bytes of a read: whole records, each word-aligned, nothing left over. */
export function bpfRecords(buf: Uint8Array, n: number): BpfRecord[] {
  const out: BpfRecord[] = [];
  let off = 0;
  while (off < n) {
    expect(off % 8).toBe(0);
    const hdr = bpf_hdr_read(buf, off, n);
    expect(hdr).not.toBeNull();
    out.push({ hdr: hdr!, off, data: buf.slice(off + hdr!.bh_hdrlen, off + hdr!.bh_hdrlen + hdr!.bh_caplen) });
    off += BPF_WORDALIGN(hdr!.bh_hdrlen + hdr!.bh_caplen);
  }
  expect(off).toBeLessThanOrEqual(BPF_WORDALIGN(n));
  return out;
}

/** One read of the whole buffer, decoded. */
export async function bpfRead(k: Kernel, fd: number, blen: number): Promise<BpfRecord[]> {
  const buf = new Uint8Array(blen);
  const n = await k.sys.read(fd, buf);
  return bpfRecords(buf, n);
}

/** The ethertype of an Ethernet frame. */
export function etype(f: Uint8Array): number {
  return (f[12]! << 8) | f[13]!;
}
