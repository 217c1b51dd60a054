/*
 * TCP bulk transfer between two kernels of this process over a shmif bus:
 * kernel A writes, kernel B reads, one connection; the figure is payload
 * bits per second of real time.  Two configurations, as the TCP issue
 * asks: (a) MTU 1500 with every checksum computed in software, (b) MTU
 * 9000 with the bus's checksum offload.  Baseline, same run: the same
 * amount through Node's net sockets over host loopback.
 *
 * Both kernels run on the node host (real time, real event loop).
 */

import { createServer, connect as netConnect } from 'node:net';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM } from '../include/socket.ts';
import { IFF_UP, SIOCAIFADDR, SIOCGIFFLAGS, SIOCIFCREATE, SIOCSIFFLAGS, SIOCSIFMTU, SIOCSLINKSTR } from '../include/if.ts';
import { parseArgs, report, note } from './harness.ts';

const args = parseArgs();
const SIZE = args.quick ? 100e6 : 400e6;
const CHUNK = 256 * 1024;

async function boot(net: ShmifNet, addr: string, mtu: number): Promise<Kernel> {
  const k = await rump_init({
    host: new NodeHost({ console: () => undefined }),
    components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(net)],
  });
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'shmif0' });
  await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: 'bench' });
  await k.sys.ioctl(s, SIOCSIFMTU, { ifr_name: 'shmif0', ifr_mtu: mtu });
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

/** Bits per second moved from A to B through the rump stack. */
async function rumpRun(size: number, mtu: number, offload: boolean): Promise<number> {
  const net = new ShmifNet();
  net.bus('bench').setChecksumOffload(offload);
  const a = await boot(net, '10.0.0.1', mtu);
  const b = await boot(net, '10.0.0.2', mtu);
  const ls = await b.sys.socket(AF_INET, SOCK_STREAM);
  await b.sys.bind(ls, { sin_family: AF_INET, sin_port: 5001, sin_addr: '0.0.0.0' });
  await b.sys.listen(ls, 5);
  const c = await a.sys.socket(AF_INET, SOCK_STREAM);
  const acc = b.sys.accept(ls);
  await a.sys.connect(c, { sin_family: AF_INET, sin_port: 5001, sin_addr: '10.0.0.2' });
  const { fd } = await acc;
  const block = new Uint8Array(CHUNK).map((_, i) => i * 31);
  const rbuf = new Uint8Array(CHUNK);
  /* Warm up: 4 MB. */
  const move = async (n: number): Promise<void> => {
    const w = (async () => {
      for (let off = 0; off < n;) off += await a.sys.send(c, block.subarray(0, Math.min(CHUNK, n - off)));
    })();
    let got = 0;
    while (got < n) got += await b.sys.recv(fd, rbuf);
    await w;
  };
  await move(4e6);
  const t0 = performance.now();
  await move(size);
  const secs = (performance.now() - t0) / 1000;
  await a.halt();
  await b.halt();
  return (size * 8) / secs;
}

/** Bits per second through node:net over host loopback. */
async function nodeRun(size: number): Promise<number> {
  const block = new Uint8Array(CHUNK).fill(7);
  let got = 0;
  const t0 = performance.now();
  await new Promise<void>((done) => {
    const srv = createServer((sock) => {
      sock.on('data', (d) => {
        got += d.length;
        if (got >= size) {
          sock.destroy();
          srv.close();
          done();
        }
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const cl = netConnect(port, '127.0.0.1', () => {
        let sent = 0;
        const pump = (): void => {
          while (sent < size) {
            sent += CHUNK;
            if (!cl.write(block)) {
              cl.once('drain', pump);
              return;
            }
          }
          cl.end();
        };
        pump();
      });
      cl.on('error', () => undefined);
    });
  });
  return (size * 8) / ((performance.now() - t0) / 1000);
}

const base = await nodeRun(SIZE);
note(`node net over loopback: ${(base / 1e9).toFixed(2)} Gbit/s`);
const a = await rumpRun(SIZE, 1500, false);
note(`rump TCP, MTU 1500, software checksums: ${(a / 1e9).toFixed(2)} Gbit/s`);
const b = await rumpRun(SIZE, 9000, true);
note(`rump TCP, MTU 9000, checksum offload: ${(b / 1e9).toFixed(2)} Gbit/s`);
report({
  bench: 'tcp_stream', metric: 'MTU 1500, checksums computed', unit: 'Gbit/s', value: Number((a / 1e9).toFixed(3)), better: 'higher',
  baseline: 'node net over host loopback', baseline_value: Number((base / 1e9).toFixed(3)), target: { value: 2, label: '>= 2 Gbit/s' },
}, args);
report({
  bench: 'tcp_stream', metric: 'MTU 9000, checksum offload', unit: 'Gbit/s', value: Number((b / 1e9).toFixed(3)), better: 'higher',
  baseline: 'node net over host loopback', baseline_value: Number((base / 1e9).toFixed(3)), target: { value: 8, label: '>= 8 Gbit/s' },
}, args);
