/*
 * The main demo (npm start): two NetBSD-style kernels in this one Node
 * process, wired by a virtual Ethernet, with Node's own HTTP server and
 * client running on their TCP/IP stack.  No root, no TAP device, no host
 * network: every packet travels between objects of this process.
 *
 *   1. boot kernels "server" and "client" on the real host (NodeHost: host
 *      clock and timers), each with the network components and a shmif
 *      interface on bus "wire0", configured with rump.ifconfig;
 *   2. record the bus to a pcap file (what Wireshark shows is the wire);
 *   3. run node:http's server on "server" (kernel.net gives Node-compatible
 *      sockets, lib/nodenet) and make 1,000 requests from "client";
 *   4. show what happened with rump.netstat: the connections, TCP's
 *      statistics, the interface counters; then halt both kernels.
 *
 * Every request is a new connection: the client's agent does not keep
 * connections alive, so requests say "Connection: close", and Node's
 * server answers, then closes its side first.  The side that closes first
 * is the one that waits in TIME_WAIT (RFC 9293 3.6), so the 1,000
 * TIME_WAIT connections are the server's.  Their peer is on the server's
 * own subnet, so MSL truncation gives them a 10 s TIME_WAIT (2 x the
 * "local" MSL of 5 s) rather than 60 s.
 *
 * Options: -n N (requests, default 1000), -c N (requests in flight at a
 * time, default 8), --pcap FILE (default ./rumpts-demo.pcap).  The process
 * exits by itself: once the kernels are halted nothing holds the loop.
 */

import * as http from 'node:http';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, shmif_bus_pcap, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { main as ifconfig } from '../bin/rump.ifconfig.ts';
import { main as netstat } from '../bin/rump.netstat.ts';
import type { ToolIO } from '../bin/tool.ts';
/* Importing lib/nodenet/net.ts gives every kernel its `net` (Node's net module, on that kernel). */
import '../lib/nodenet/net.ts';
import { createHttpAgent, serveHttp } from '../lib/nodenet/http.ts';

const USAGE = 'usage: npm start -- [-n requests] [-c concurrency] [--pcap file]\n';

function parseArgs(argv: readonly string[]): { requests: number; concurrency: number; pcap: string } {
  const o = { requests: 1000, concurrency: 8, pcap: 'rumpts-demo.pcap' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if ((a === '-n' || a === '-c') && v !== undefined && /^[1-9][0-9]*$/.test(v)) {
      if (a === '-n') o.requests = Number(v);
      else o.concurrency = Number(v);
      i++;
    } else if (a === '--pcap' && v !== undefined && v !== '') {
      o.pcap = v;
      i++;
    } else {
      const why = a === '-n' || a === '-c' ? `${a} needs a positive number` : a === '--pcap' ? '--pcap needs a file name' : `unknown option ${a}`;
      process.stderr.write(`boot: ${why}\n${USAGE}`);
      process.exit(2);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));

/* The rump.* tools print through an io object: here, straight to stdout. */
const io: ToolIO = { out: (s) => { process.stdout.write(s); }, err: (s) => { process.stderr.write(s); } };
const say = (s: string): void => { process.stdout.write(`${s}\n`); };

async function tool(main: typeof netstat, k: Kernel, argv: string[], out: ToolIO = io): Promise<void> {
  const rc = await main(k.sys, argv, out);
  if (rc !== 0) throw new Error(`${k.name}: ${argv.join(' ')} failed (exit ${rc})`);
}

/* 1. Two kernels meeting on the buses of one ShmifNet. */
const wire = new ShmifNet();
const components = [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(wire)];
const dmesg: string[] = [];
async function boot(name: string, addr: string): Promise<Kernel> {
  const k = await rump_init({ host: new NodeHost({ console: (s) => { if (name === 'server') dmesg.push(s); } }), name, components });
  await tool(ifconfig, k, ['shmif0', 'create']);
  await tool(ifconfig, k, ['shmif0', 'linkstr', 'wire0']);
  await tool(ifconfig, k, ['shmif0', 'inet', `${addr}/24`]);
  return k;
}

say('# booting two rump kernels in this process');
const server = await boot('server', '10.0.0.2');
const client = await boot('client', '10.0.0.1');
process.stdout.write(dmesg.join('').split('\n').filter((l) => l !== '').map((l) => `server: ${l}\n`).join(''));
say('\n# rump.ifconfig shmif0 (on server)');
await tool(ifconfig, server, ['shmif0']);

/* 2. Everything the receivers get off the bus, as pcap records in memory until the end. */
const frames: Uint8Array[] = [];
const capture = shmif_bus_pcap(wire.bus('wire0'), (chunk) => { frames.push(chunk); });

/* 3. node:http, unchanged: its server gets the kernel's accepted sockets, its client the kernel's connections. */
const hs = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello ${req.socket.remoteAddress}:${req.socket.remotePort}, this is ${server.name} (${req.method} ${req.url})\n`);
});
const listener = serveHttp(server.net, hs);
await new Promise<void>((done) => { listener.listen(80, '0.0.0.0', done); });
let connections = 0;
listener.on('connection', () => { connections++; });

const agent = createHttpAgent(client.net, { keepAlive: false });
/* The client's ephemeral ports, to account for the TIME_WAITs below. */
const ports = new Set<number>();
function get(path: string): Promise<string> {
  return new Promise((done, fail) => {
    http.get({ host: '10.0.0.2', port: 80, path, agent }, (res) => {
      ports.add(res.socket.localPort!);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => { body += s; });
      res.on('end', () => { done(body); });
      res.on('error', fail);
    }).on('error', fail);
  });
}

say(`\n# node:http server on server 10.0.0.2:80; ${opts.requests} GETs from client, ${opts.concurrency} at a time, Connection: close`);
let next = 0;
let first = '';
const t0 = performance.now();
await Promise.all(Array.from({ length: opts.concurrency }, async () => {
  while (next < opts.requests) {
    const body = await get(`/${next++}`);
    if (first === '') first = body;
  }
}));
const seconds = (performance.now() - t0) / 1000;
say(`first reply: ${first.trimEnd()}`);
say(`${opts.requests} requests over ${connections} connections in ${seconds.toFixed(2)} s: ${Math.round(opts.requests / seconds)} requests/s`);
/* The last FINs and ACKs are still on the wire: a moment, so that the listing shows where the connections settle. */
await new Promise((done) => { setTimeout(done, 50); });

/* 4. What the kernels did, through the same tools one would point at a rump_server. */
let listing = '';
await tool(netstat, server, ['-anV'], { out: (s) => { listing += s; }, err: io.err });
const lines = listing.trimEnd().split('\n');
const head = 2;
const shown = 10;
const states = new Map<string, number>();
for (const l of lines.slice(head)) {
  const st = l.split(/\s+/)[5] ?? '?';
  states.set(st, (states.get(st) ?? 0) + 1);
}
say('\n# rump.netstat -anV on server: the server closed first, so the TIME_WAITs are its (Expires: time left, MSL class)');
say(lines.slice(0, head + shown).join('\n'));
if (lines.length > head + shown) say(`... ${lines.length - head - shown} more`);
say(`connections by state: ${[...states].map(([s, n]) => `${n} ${s}`).join(', ')}`);
if (ports.size < connections) {
  say(`(the client drew ${ports.size} different ports for ${connections} connections: a SYN from a port whose last`);
  say(` connection is still in TIME_WAIT reopens it, RFC 6191, so there is one TIME_WAIT per port)`);
}

say('\n# rump.netstat -ss -p tcp on server (TCP statistics; -ss leaves out the zero counters)');
await tool(netstat, server, ['-ss', '-p', 'tcp']);
say('\n# rump.netstat -i on server');
await tool(netstat, server, ['-i']);
say('\n# rump.netstat -i on client');
await tool(netstat, client, ['-i']);

await new Promise<void>((done) => { listener.close(() => { done(); }); });
capture.close();
const file = resolve(opts.pcap);
writeFileSync(file, Buffer.concat(frames));
say(`\n# packet capture of wire0: ${capture.packets} frames written to ${file}`);
say(`open it in Wireshark:  wireshark ${file}`);
say(`or in a terminal:      tshark -r ${file} -Y http`);

await client.halt();
await server.halt();
say(`\nkernels ${client.name} and ${server.name}: ${client.state}, ${server.state}`);
