/*
 * Early demultiplexing on a shared wire: KERNELS kernels on one shmif bus,
 * kernel 0 sending 64-byte UDP datagrams to kernel 1 (sendmmsg/recvmmsg,
 * 64 at a time, at most WINDOW outstanding) while the others sit idle on the same bus.  With the
 * bus's demux (the default) each frame is matched against every port's
 * BPF program and handed only to kernel 1; the baseline, measured in the
 * same run on the same traffic, is the bus with demux off, where every
 * kernel takes every frame into its mbufs and drops it in ether_input,
 * as on a hub of promiscuous NICs.  Figures: datagrams delivered per
 * second of real time, and frames the kernels took in per datagram.
 *
 * Node host (real time, the bus delivering from the event loop), as
 * bench/udp_pps.  Medians over the rounds after a warm-up round.
 */

import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { AF_INET, MSG_WAITFORONE, SOCK_DGRAM, SOL_SOCKET, SO_RCVBUF, SO_RCVTIMEO, SO_SNDBUF, type Mmsghdr, type RecvMmsghdr, type SockaddrIn } from '../include/socket.ts';
import { SIOCAIFADDR, SIOCIFCREATE, SIOCSLINKSTR } from '../include/if.ts';
import { elapsedNs, note, now, parseArgs, report, rounds } from './harness.ts';

const BENCH = 'bpf_demux';
const args = parseArgs();
const KERNELS = 16;
const N = args.quick ? 50_000 : 200_000;
const BATCH = 64;
const PAYLOAD = 64;
/** Datagrams the sender may have outstanding (sent, not yet read), as bench/udp_pps. */
const WINDOW = 512;

function sin(addr: string, port = 0): SockaddrIn {
  return { sin_family: AF_INET, sin_port: port, sin_addr: addr };
}

async function boot(net: ShmifNet, i: number): Promise<Kernel> {
  const k = await rump_init({
    host: new NodeHost({ console: () => undefined }),
    name: `k${i}`,
    components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(net)],
  });
  await k.sys.sysctl('net.inet.ip.ifq.maxlen', 2 * WINDOW);
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'shmif0' });
  await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: 'wire' });
  await k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: 'shmif0', ifra_addr: sin(`10.0.0.${i + 1}`), ifra_mask: sin('255.255.255.0') });
  await k.sys.close(s);
  return k;
}

async function run(demux: boolean, n: number): Promise<{ dps: number; perDatagram: number }> {
  const net = new ShmifNet({ bus: { demux } });
  const ks: Kernel[] = [];
  for (let i = 0; i < KERNELS; i++) ks.push(await boot(net, i));
  const [a, b] = ks as [Kernel, Kernel];
  const rs = await b.sys.socket(AF_INET, SOCK_DGRAM);
  await b.sys.setsockopt(rs, SOL_SOCKET, SO_RCVBUF, 200 * 1024);
  await b.sys.bind(rs, sin('0.0.0.0', 9000));
  const ss = await a.sys.socket(AF_INET, SOCK_DGRAM);
  await a.sys.setsockopt(ss, SOL_SOCKET, SO_SNDBUF, 200 * 1024);
  await a.sys.connect(ss, sin('10.0.0.2', 9000));
  const smsgs: Mmsghdr[] = [];
  for (let i = 0; i < BATCH; i++) smsgs.push({ buf: new Uint8Array(PAYLOAD) });
  const rmsgs: RecvMmsghdr[] = [];
  for (let i = 0; i < BATCH; i++) rmsgs.push({ buf: new Uint8Array(2048), n: 0, from: null, flags: 0 });
  /* Warm ARP. */
  await a.sys.send(ss, smsgs[0]!.buf);
  await b.sys.recv(rs, rmsgs[0]!.buf);
  const bus = net.bus('wire');
  const rx0 = bus.stats.rxframes;
  let got = 0;
  let sent = 0;
  const t0 = now();
  /* SO_RCVTIMEO ends the run after 200 ms of silence if datagrams were lost. */
  await b.sys.setsockopt(rs, SOL_SOCKET, SO_RCVTIMEO, { tv_sec: 0, tv_usec: 200_000 });
  let rxDone = false;
  const receiver = (async () => {
    try {
      while (got < n) got += await b.sys.recvmmsg(rs, rmsgs, MSG_WAITFORONE, false);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN') throw e;
    }
    rxDone = true;
  })();
  while (sent < n && !rxDone) {
    while (sent < n && sent - got < WINDOW) sent += await a.sys.sendmmsg(ss, smsgs);
    /* Let the bus deliver and the receiver catch up. */
    await new Promise<void>((res) => { setImmediate(res); });
  }
  await receiver;
  if (got < n) note(`${BENCH}: ${n - got} of ${n} datagrams lost (demux ${demux ? 'on' : 'off'})`);
  const secs = elapsedNs(t0) / 1e9;
  const perDatagram = (bus.stats.rxframes - rx0) / got;
  for (const k of ks) await k.halt();
  return { dps: got / secs, perDatagram };
}

/* The order alternates, so neither side always runs on the warmer JIT. */
const r = await rounds({ warmup: 1, rounds: args.quick ? 3 : 5 }, async (round) => {
  const first = round % 2 === 0;
  const x = await run(first, N);
  const y = await run(!first, N);
  const [on, off] = first ? [x, y] : [y, x];
  return { on: on.dps, off: off.dps, onFrames: on.perDatagram, offFrames: off.perDatagram };
});
note(`${KERNELS} kernels on one bus; frames taken in per datagram: demux ${r.median.onFrames.toFixed(2)}, hub ${r.median.offFrames.toFixed(2)}`);
report({
  bench: BENCH, metric: `delivered, ${KERNELS} kernels on one bus`, unit: 'datagrams/s', value: Math.round(r.median.on), better: 'higher',
  baseline: 'the same bus without demux (every kernel takes every frame)', baseline_value: Math.round(r.median.off),
}, args);
report({
  bench: BENCH, metric: 'frames taken into kernels per datagram', unit: 'frames', value: r.median.onFrames, better: 'lower',
  baseline: 'without demux', baseline_value: r.median.offFrames,
}, args);
