/*
 * UDP datagrams per second between two kernels of this process over a
 * shmif bus: kernel A sends 64-byte datagrams to a socket in kernel B,
 * which reads them; the figure is datagrams delivered to B per second of
 * real time.  Baseline, same run: Node's dgram sockets over host loopback
 * (the same sender/receiver pattern, through the host kernel).
 *
 * Both sides run on the node host (real time, real event loop); the sender
 * keeps a bounded number of datagrams in flight so neither side's socket
 * buffer overflows, which is what a paced real application would do.
 */

import { createSocket } from 'node:dgram';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { AF_INET, MSG_WAITFORONE, SOCK_DGRAM, SOL_SOCKET, SO_RCVBUF, SO_RCVTIMEO, SO_SNDBUF, type Mmsghdr, type RecvMmsghdr } from '../include/socket.ts';
import { IFF_UP, SIOCAIFADDR, SIOCGIFFLAGS, SIOCIFCREATE, SIOCSIFFLAGS, SIOCSLINKSTR } from '../include/if.ts';
import { parseArgs, report, note } from './harness.ts';

const args = parseArgs();
const N = args.quick ? 100_000 : 500_000;
const PAYLOAD = 64;
/** Datagrams the sender may have outstanding (sent, not yet read by the receiver). */
const WINDOW = 512;

async function boot(net: ShmifNet, addr: string): Promise<Kernel> {
  const k = await rump_init({
    host: new NodeHost({ console: () => undefined }),
    components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(net)],
  });
  /* A receive burst is up to WINDOW frames in one interrupt: let the IP input queue hold it (as one tunes a server). */
  await k.sys.sysctl('net.inet.ip.ifq.maxlen', 2 * WINDOW);
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'shmif0' });
  await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: 'bench' });
  await k.sys.ioctl(s, SIOCAIFADDR, {
    ifra_name: 'shmif0',
    ifra_addr: { sin_family: AF_INET, sin_port: 0, sin_addr: addr },
    ifra_mask: { sin_family: AF_INET, sin_port: 0, sin_addr: '255.255.255.0' },
  });
  const ifr = (await k.sys.ioctl(s, SIOCGIFFLAGS, { ifr_name: 'shmif0' })) as { ifr_flags: number };
  await k.sys.ioctl(s, SIOCSIFFLAGS, { ifr_name: 'shmif0', ifr_flags: ifr.ifr_flags | IFF_UP });
  await k.sys.close(s);
  return k;
}

async function rumpRun(n: number, batch: number): Promise<number> {
  const net = new ShmifNet();
  const a = await boot(net, '10.0.0.1');
  const b = await boot(net, '10.0.0.2');
  const rs = await b.sys.socket(AF_INET, SOCK_DGRAM);
  await b.sys.setsockopt(rs, SOL_SOCKET, SO_RCVBUF, 200 * 1024);
  await b.sys.bind(rs, { sin_family: AF_INET, sin_port: 9000, sin_addr: '0.0.0.0' });
  const ss = await a.sys.socket(AF_INET, SOCK_DGRAM);
  await a.sys.setsockopt(ss, SOL_SOCKET, SO_SNDBUF, 200 * 1024);
  await a.sys.connect(ss, { sin_family: AF_INET, sin_port: 9000, sin_addr: '10.0.0.2' });
  const payload = new Uint8Array(PAYLOAD);
  const rbuf = new Uint8Array(2048);
  /* Warm up ARP and the JIT. */
  await a.sys.send(ss, payload);
  await b.sys.recv(rs, rbuf);
  let got = 0;
  let sent = 0;
  let rxDone = false;
  const t0 = performance.now();
  /* Blocking reads; SO_RCVTIMEO ends the run after 200 ms of silence if datagrams were lost. */
  await b.sys.setsockopt(rs, SOL_SOCKET, SO_RCVTIMEO, { tv_sec: 0, tv_usec: 200_000 });
  const rmsgs: RecvMmsghdr[] = [];
  for (let i = 0; i < batch; i++) rmsgs.push({ buf: new Uint8Array(2048), n: 0, from: null, flags: 0 });
  const smsgs: Mmsghdr[] = [];
  for (let i = 0; i < batch; i++) smsgs.push({ buf: payload });
  const receiver = (async () => {
    try {
      while (got < n) {
        if (batch === 1) {
          await b.sys.recv(rs, rbuf);
          got++;
        } else {
          got += await b.sys.recvmmsg(rs, rmsgs, MSG_WAITFORONE, false);
        }
      }
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN') throw e;
    }
    rxDone = true;
  })();
  while (sent < n && !rxDone) {
    while (sent < n && sent - got < WINDOW) {
      if (batch === 1) {
        await a.sys.send(ss, payload);
        sent++;
      } else {
        sent += await a.sys.sendmmsg(ss, sent + batch <= n ? smsgs : smsgs.slice(0, n - sent));
      }
    }
    await new Promise<void>((r) => { setImmediate(r); });
  }
  await receiver;
  const secs = (performance.now() - t0) / 1000;
  if (got < n) note(`udp_pps: ${n - got} of ${n} datagrams lost in the kernels`);
  await a.halt();
  await b.halt();
  return got / secs;
}

async function dgramRun(n: number): Promise<number> {
  const rx = createSocket('udp4');
  const tx = createSocket('udp4');
  await new Promise<void>((r) => { rx.bind(0, '127.0.0.1', r); });
  const port = rx.address().port;
  rx.setRecvBufferSize(4 * 1024 * 1024);
  const payload = new Uint8Array(PAYLOAD);
  let got = 0;
  let sent = 0;
  const t0 = performance.now();
  await new Promise<void>((done) => {
    let idle: NodeJS.Timeout | null = null;
    const finish = (): void => { if (idle !== null) clearTimeout(idle); done(); };
    const pump = (): void => {
      while (sent < n && sent - got < WINDOW) {
        tx.send(payload, port, '127.0.0.1');
        sent++;
      }
    };
    rx.on('message', () => {
      got++;
      if (idle !== null) idle.refresh();
      else idle = setTimeout(finish, 200);
      if (got === n) finish();
      else if (sent - got < WINDOW / 2) pump();
    });
    pump();
  });
  const secs = (performance.now() - t0) / 1000;
  rx.close();
  tx.close();
  return got / secs;
}

const base = await dgramRun(Math.min(N, 200_000));
note(`node dgram over loopback: ${base.toFixed(0)} datagrams/s`);
const single = await rumpRun(N, 1);
note(`one datagram per send/recv call: ${single.toFixed(0)} datagrams/s`);
const batched = await rumpRun(N, 64);
report({
  bench: 'udp_pps', metric: 'delivered, send/recv per datagram', unit: 'datagrams/s', value: Math.round(single), better: 'higher',
  baseline: 'node dgram over host loopback', baseline_value: Math.round(base),
}, args);
report({
  bench: 'udp_pps', metric: 'delivered, sendmmsg/recvmmsg x64', unit: 'datagrams/s', value: Math.round(batched), better: 'higher',
  baseline: 'node dgram over host loopback', baseline_value: Math.round(base), target: { value: 1_000_000, label: '>= 1,000,000 datagrams/s' },
}, args);
report({
  bench: 'udp_pps', metric: 'delivered, sendmmsg/recvmmsg x64', unit: 'datagrams/s', value: Math.round(batched), better: 'higher',
  baseline: 'node dgram over host loopback', baseline_value: Math.round(base), target: { value: 5, on: 'ratio', label: '>= 5x the host dgram baseline' },
}, args);
