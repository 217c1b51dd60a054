/*
 * Two kernels of this process on ONE real Linux TAP (root): both name the
 * same device with linkstr and share the process's open handle (no second
 * TUNSETIFF, which Linux would refuse with EBUSY).  The TAP's Linux side
 * sits in a network namespace made here, at 10.98.64.1/24; the kernels
 * are 10.98.64.2 and .3.  Linux pings both (each kernel's filter takes its
 * own frames and the shared ARP, and keeps the other's out), the kernels
 * ping each other through the TAP, a kernel halting leaves the other
 * answering, and the last one out closes the TAP, which then disappears.
 * The namespace (and with it the TAP) is removed even if a step fails.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Netns, NS_MASK, requireHost, sh, uniqueName } from './netns.ts';
import { echo, recvWithin, sin } from './inet_helpers.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { IPPROTO_ICMP } from '../net/lib/libnetinet/in.ts';
import { virtif_component_create, type VirtifSoftc } from '../net/lib/libvirtif/virtif_component.ts';
import { virtif_host, type VirtifAttachStats, type VirtifHost } from '../net/lib/libvirtif/virtif_user.ts';
import { AF_INET, SOCK_DGRAM, SOCK_RAW } from '../include/socket.ts';
import { SIOCAIFADDR, SIOCIFCREATE, SIOCSLINKSTR } from '../include/if.ts';

const THEIRS = '10.98.64.1';
const OURS = ['10.98.64.2', '10.98.64.3'] as const;

requireHost(['ip', 'ping']);

const kernels: Kernel[] = [];
const spaces: Netns[] = [];

afterAll(async () => {
  for (const k of kernels) if (!k.dead) await k.halt();
  for (const ns of spaces) ns.destroy();
});

/* A kernel on NodeHost with virt0 on TAP tap at addr/24. */
async function kernel(name: string, tap: string, addr: string): Promise<Kernel> {
  const k = await rump_init({
    host: new NodeHost({ console: () => undefined }),
    name,
    components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, virtif_component_create({ linkstr: true })],
  });
  kernels.push(k);
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'virt0' });
  await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: tap });
  await k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: 'virt0', ifra_addr: sin(addr), ifra_mask: sin(NS_MASK) });
  await k.sys.close(s);
  return k;
}

function processHost(): VirtifHost {
  const h = virtif_host();
  if ('why' in h) throw new Error(h.why);
  return h;
}

function stats(k: Kernel): VirtifAttachStats {
  return processHost().attachStats((ifunit(k, 'virt0')!.if_softc as VirtifSoftc).sc_viu!)!;
}

async function ping(from: Kernel, to: string): Promise<void> {
  const r = await from.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  try {
    await from.sys.sendto(r, echo(0x5348, 1, new Uint8Array(48).fill(0x5a)), 0, sin(to));
    for (;;) {
      const rep = await recvWithin(from, r, 5000);
      const icmp = rep.data.subarray((rep.data[0]! & 0x0f) * 4);
      if (icmp[0] !== 0) continue;
      expect(rep.from).toMatchObject({ sin_addr: to });
      return;
    }
  } finally {
    await from.sys.close(r);
  }
}

function linkInNs(ns: Netns, dev: string): boolean {
  try {
    ns.sh('ip', ['link', 'show', dev]);
    return true;
  } catch {
    return false;
  }
}

describe('two kernels of one process on one Linux TAP', () => {
  it('share the TAP: Linux pings both, they ping each other, one halting leaves the other; the last one out closes it', async () => {
    const tap = uniqueName('rvs');
    const ns = Netns.create();
    spaces.push(ns);
    const a = await kernel('shared_a', tap, OURS[0]);
    const b = await kernel('shared_b', tap, OURS[1]);
    expect(processHost().tapStats(tap)).toMatchObject({ devname: tap, attached: 2 });
    ns.adopt(tap, `${THEIRS}/24`);

    for (const addr of OURS) {
      const d = await ns.run('ping', ['-c', '3', '-i', '0.2', '-W', '2', addr], 20_000);
      expect(d.stdout).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);
    }
    /* Two stations with their own MACs on the Linux side of the wire. */
    const neigh = ns.sh('ip', ['neigh', 'show', 'dev', tap]);
    const macs = OURS.map((addr) => [...ifunit(addr === OURS[0] ? a : b, 'virt0')!.if_sadl].map((x) => x.toString(16).padStart(2, '0')).join(':'));
    for (const [i, addr] of OURS.entries()) expect(neigh).toMatch(new RegExp(`${addr.replace(/\./g, '\\.')} lladdr ${macs[i]}`));
    /*
     * Each took its 3 echo requests and the who-has for its address, and
     * kept out the other's: at least the 3 requests from Linux and the 3
     * replies from the other kernel (ARP besides).
     */
    for (const s of [stats(a), stats(b)]) {
      expect(s.accepted).toBeGreaterThanOrEqual(4);
      expect(s.rejected).toBeGreaterThanOrEqual(6);
      expect(s.frames).toBe(s.accepted);
    }

    await ping(a, OURS[1]);
    await ping(b, OURS[0]);
    expect(processHost().tapStats(tap)!.loopframes).toBeGreaterThanOrEqual(4);

    await a.halt();
    expect(processHost().tapStats(tap)!.attached).toBe(1);
    const d = await ns.run('ping', ['-c', '2', '-i', '0.2', '-W', '2', OURS[1]], 20_000);
    expect(d.stdout).toMatch(/2 packets transmitted, 2 received/);
    expect(linkInNs(ns, tap)).toBe(true);

    await b.halt();
    expect(processHost().tapStats(tap)).toBeNull();
    /* Not persistent: closing its only handle removed the TAP. */
    for (let i = 0; i < 50 && linkInNs(ns, tap); i++) await new Promise((r) => setTimeout(r, 20));
    expect(linkInNs(ns, tap)).toBe(false);
    expect(() => sh('ip', ['link', 'show', tap])).toThrow();
  }, 60_000);
});
