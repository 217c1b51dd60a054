/*
 * TCP request/response: one connection between two kernels of this
 * process over a shmif bus; the client writes 1 byte, the server answers
 * 1 byte, again and again; the figure is transactions per second of real
 * time.  Baseline, same run: the same ping-pong through Node's net
 * sockets over host loopback.  TCP_NODELAY on both sides (an echo
 * protocol with Nagle waits for delayed ACKs).
 */

import { createServer, connect as netConnect } from 'node:net';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM } from '../include/socket.ts';
import { IFF_UP, SIOCAIFADDR, SIOCGIFFLAGS, SIOCIFCREATE, SIOCSIFFLAGS, SIOCSLINKSTR } from '../include/if.ts';
import { IPPROTO_TCP } from '../net/lib/libnetinet/in.ts';
import { TCP_NODELAY } from '../net/lib/libnetinet/tcp_var.ts';
import { parseArgs, report, note } from './harness.ts';

const args = parseArgs();
const N = args.quick ? 50_000 : 200_000;

async function boot(net: ShmifNet, addr: string): Promise<Kernel> {
  const k = await rump_init({
    host: new NodeHost({ console: () => undefined }),
    components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(net)],
  });
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

async function rumpRun(n: number): Promise<number> {
  const net = new ShmifNet();
  const a = await boot(net, '10.0.0.1');
  const b = await boot(net, '10.0.0.2');
  const ls = await b.sys.socket(AF_INET, SOCK_STREAM);
  await b.sys.bind(ls, { sin_family: AF_INET, sin_port: 5002, sin_addr: '0.0.0.0' });
  await b.sys.listen(ls, 5);
  const c = await a.sys.socket(AF_INET, SOCK_STREAM);
  await a.sys.setsockopt(c, IPPROTO_TCP, TCP_NODELAY, 1);
  const acc = b.sys.accept(ls);
  await a.sys.connect(c, { sin_family: AF_INET, sin_port: 5002, sin_addr: '10.0.0.2' });
  const { fd } = await acc;
  await b.sys.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  const one = new Uint8Array(1);
  const cbuf = new Uint8Array(16);
  const sbuf = new Uint8Array(16);
  const server = (async () => {
    for (;;) {
      const got = await b.sys.recv(fd, sbuf);
      if (got === 0) return;
      await b.sys.send(fd, sbuf.subarray(0, got));
    }
  })();
  const round = async (k: number): Promise<void> => {
    for (let i = 0; i < k; i++) {
      one[0] = i;
      await a.sys.send(c, one);
      if (await a.sys.recv(c, cbuf) !== 1 || cbuf[0] !== (i & 0xff)) throw new Error('tcp_rr: wrong answer');
    }
  };
  await round(2000);
  const t0 = performance.now();
  await round(n);
  const secs = (performance.now() - t0) / 1000;
  await a.sys.close(c);
  await server;
  await a.halt();
  await b.halt();
  return n / secs;
}

async function nodeRun(n: number): Promise<number> {
  return new Promise((done) => {
    const srv = createServer((sock) => {
      sock.setNoDelay(true);
      sock.on('data', (d) => { sock.write(d); });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const cl = netConnect(port, '127.0.0.1');
      cl.setNoDelay(true);
      let i = 0;
      let t0 = 0;
      const one = new Uint8Array(1);
      cl.on('connect', () => {
        t0 = performance.now();
        cl.write(one);
      });
      cl.on('data', (d) => {
        i += d.length;
        if (i >= n) {
          const secs = (performance.now() - t0) / 1000;
          cl.destroy();
          srv.close();
          done(n / secs);
          return;
        }
        cl.write(one);
      });
    });
  });
}

const base = await nodeRun(N);
note(`node net over loopback: ${base.toFixed(0)} transactions/s`);
const rr = await rumpRun(N);
note(`rump TCP over shmif: ${rr.toFixed(0)} transactions/s`);
report({
  bench: 'tcp_rr', metric: '1-byte request/response', unit: 'transactions/s', value: Math.round(rr), better: 'higher',
  baseline: 'node net over host loopback', baseline_value: Math.round(base), target: { value: 100_000, label: '>= 100,000 transactions/s' },
}, args);
report({
  bench: 'tcp_rr', metric: '1-byte request/response', unit: 'transactions/s', value: Math.round(rr), better: 'higher',
  baseline: 'node net over host loopback', baseline_value: Math.round(base), target: { value: 2, on: 'ratio', label: '>= 2x the host baseline' },
}, args);
