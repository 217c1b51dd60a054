/*
 * The main demo (npm start): boot a rump kernel on the real host, print its
 * boot messages and kern.* sysctls, do a little work through syscalls, and
 * halt.  Nothing keeps the process alive afterwards: it exits by itself.
 */

import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, kernel_run } from '../librump/rumpkern/rump.ts';
import { sysctl_format } from '../librump/rumpkern/kern_sysctl.ts';
import { Callout, callout_init, callout_reset } from '../librump/rumpkern/kern_timeout.ts';
import { mstohz } from '../librump/rumpkern/kern_clock.ts';
import { printf } from '../librump/rumpkern/subr_prf.ts';
import { POLLIN } from '../include/syscall.ts';

const k = await rump_init({ host: new NodeHost(), verbose: process.env['RUMP_VERBOSE'] === '1' });

console.log('\n# sysctl kern');
for (const e of k.sysctl.walk('kern')) console.log(sysctl_format(e));

console.log('\n# a callout, a pipe and poll');
const c = new Callout();
callout_init(c, 0, k);
kernel_run(k, () => {
  callout_reset(c, mstohz(k, 30), () => { printf(k, `callout fired at tick ${k.ticks}\n`); }, null);
});
const [r, w] = await k.sys.pipe();
const fds = [{ fd: r, events: POLLIN, revents: 0 }];
const t0 = performance.now();
const n = await k.sys.poll(fds, 100);
console.log(`poll on an empty pipe: ${n} ready after ${(performance.now() - t0).toFixed(1)} ms`);
await k.sys.write(w, 'hello through a kernel pipe\n');
await k.sys.poll(fds, 100);
const buf = new Uint8Array(128);
const len = await k.sys.read(r, buf);
await k.sys.write(1, buf.subarray(0, len));

console.log('\n# dmesg');
process.stdout.write(k.dmesg());

await k.halt();
console.log(`kernel ${k.name}: ${k.state}`);
