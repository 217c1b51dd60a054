/*
 * Test helpers for host integration over TAP devices: Linux network
 * namespaces the test creates and removes, commands run inside them,
 * checks that the tools exist, and a kernel on NodeHost with a virt
 * interface whose TAP is moved into a namespace.
 *
 * Every Linux-side interface and tool lives in a namespace made here, so
 * traffic never leaves it; names carry the process id so test files
 * running side by side never meet.  A missing tool or missing root fails
 * the test with a message saying what to install, never a skip.
 */

import { execFileSync, spawn } from 'node:child_process';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { virtif_component_create } from '../net/lib/libvirtif/virtif_component.ts';
import { virtif_addon } from '../net/lib/libvirtif/virtif_user.ts';
import { AF_INET, SOCK_DGRAM } from '../include/socket.ts';
import { SIOCAIFADDR, SIOCIFCREATE, SIOCSLINKSTR } from '../include/if.ts';

/** Debian package of each tool the host tests use (.ci/run installs them). */
const PACKAGES: Record<string, string> = {
  ip: 'iproute2', ping: 'iputils-ping', curl: 'curl', wrk: 'wrk', nc: 'netcat-openbsd', ethtool: 'ethtool',
  tshark: 'tshark', tcpdump: 'tcpdump', python3: 'python3', iperf3: 'iperf3', sha256sum: 'coreutils',
};

function have(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Throw, naming what to install, unless we are root with /dev/net/tun, the
 * virtif addon is built, and every tool is on PATH.
 */
export function requireHost(tools: readonly string[]): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('these tests need root (TAP devices and network namespaces)');
  const a = virtif_addon();
  if ('why' in a) problems.push(a.why);
  const missing = tools.filter((t) => !have(t));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => PACKAGES[t] ?? t))];
    problems.push(`missing tools: ${missing.join(', ')} (apt-get install -y ${pkgs.join(' ')})`);
  }
  if (problems.length > 0) throw new Error(`host test cannot run: ${problems.join('; ')}`);
}

let serial = 0;

/** A name unique to this process and call, at most 15 characters (a Linux interface name). */
export function uniqueName(prefix: string): string {
  const n = `${prefix}${process.pid.toString(36)}${(serial++).toString(36)}`;
  if (n.length > 15) throw new Error(`uniqueName: ${n} is longer than an interface name may be`);
  return n;
}

/** Run a command to completion, synchronously (setup only: it blocks our kernels too). */
export function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Done {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** A child process, with its output gathered and a promise of its end. */
export interface Child {
  readonly pid: number;
  readonly done: Promise<Done>;
  kill(sig?: NodeJS.Signals): void;
}

/** Start a command without blocking the event loop (our kernels keep running); killed after timeoutMs. */
export function start(cmd: string, args: readonly string[], timeoutMs = 30_000, input?: Uint8Array): Child {
  const c = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  c.stdout!.on('data', (d: Buffer) => out.push(d));
  c.stderr!.on('data', (d: Buffer) => err.push(d));
  if (input !== undefined) {
    c.stdin!.on('error', () => undefined);
    c.stdin!.end(input);
  }
  const timer = setTimeout(() => { c.kill('SIGKILL'); }, timeoutMs);
  const done = new Promise<Done>((resolve, reject) => {
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
  return {
    pid: c.pid ?? -1,
    done,
    kill: (sig = 'SIGTERM') => { if (c.exitCode === null && c.signalCode === null) c.kill(sig); },
  };
}

/** Run a command and wait; throws with its output if it fails. */
export async function run(cmd: string, args: readonly string[], timeoutMs = 30_000, input?: Uint8Array): Promise<Done> {
  const d = await start(cmd, args, timeoutMs, input).done;
  if (d.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${d.code ?? d.signal}):\n${d.stdout}${d.stderr}`);
  }
  return d;
}

/** A network namespace made by a test, removed by destroy() with everything in it. */
export class Netns {
  private alive = true;
  private constructor(readonly name: string) {}

  static create(prefix = 'rts'): Netns {
    const ns = new Netns(uniqueName(prefix));
    sh('ip', ['netns', 'add', ns.name]);
    sh('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** argv prefixed with "ip netns exec NAME". */
  argv(cmd: string, args: readonly string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name, cmd, ...args]];
  }

  sh(cmd: string, args: readonly string[]): string {
    const [c, a] = this.argv(cmd, args);
    return sh(c, a);
  }

  start(cmd: string, args: readonly string[], timeoutMs?: number, input?: Uint8Array): Child {
    const [c, a] = this.argv(cmd, args);
    return start(c, a, timeoutMs, input);
  }

  run(cmd: string, args: readonly string[], timeoutMs?: number, input?: Uint8Array): Promise<Done> {
    const [c, a] = this.argv(cmd, args);
    return run(c, a, timeoutMs, input);
  }

  /**
   * Take host device dev (in our namespace) in, address it, bring it up,
   * with IPv6 off so the link carries no router or neighbour solicitations.
   * (A TAP opened without IFF_VNET_HDR has no TX checksum offload to turn
   * off: Linux checksums every frame it hands us.)
   */
  adopt(dev: string, cidr: string): void {
    sh('ip', ['link', 'set', dev, 'netns', this.name]);
    this.sh('sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
    this.sh('ip', ['addr', 'add', cidr, 'dev', dev]);
    this.sh('ip', ['link', 'set', dev, 'up']);
  }

  /** Remove the namespace: its interfaces go with it (a TAP's fd stays ours until closed). */
  destroy(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* Already gone. */
      }
    }
    try {
      sh('ip', ['netns', 'del', this.name]);
    } catch {
      /* Already removed. */
    }
  }

  /** Processes still running inside the namespace. */
  pids(): number[] {
    try {
      return sh('ip', ['netns', 'pids', this.name]).split('\n').filter((s) => s !== '').map(Number);
    } catch {
      return [];
    }
  }
}

/** Namespaces whose name starts with prefix (left over by a crashed run, or leaked). */
export function netnsList(prefix: string): string[] {
  return sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(prefix));
}

export const NS_MASK = '255.255.255.0';

export interface TapPeer {
  k: Kernel;
  ns: Netns;
  /** The TAP's name (in ns). */
  tap: string;
  /** Our interface. */
  ifname: string;
  ours: string;
  theirs: string;
}

/**
 * A kernel on NodeHost with virt0 on a fresh TAP (linkstr mode: no tunN is
 * touched), the TAP moved into a fresh namespace at theirs/24, virt0 at
 * ours/24.  The caller halts k and destroys ns (afterAll).
 */
export async function tapPeer(ours: string, theirs: string, opts: { name?: string; console?: (s: string) => void } = {}): Promise<TapPeer> {
  const ns = Netns.create();
  try {
    const k = await rump_init({
      host: new NodeHost({ console: opts.console ?? (() => undefined) }),
      name: opts.name ?? 'virtk',
      components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, virtif_component_create({ linkstr: true })],
    });
    const tap = uniqueName('rvt');
    const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'virt0' });
    await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'virt0', ifd_data: tap });
    ns.adopt(tap, `${theirs}/24`);
    await k.sys.ioctl(s, SIOCAIFADDR, {
      ifra_name: 'virt0',
      ifra_addr: { sin_family: AF_INET, sin_port: 0, sin_addr: ours },
      ifra_mask: { sin_family: AF_INET, sin_port: 0, sin_addr: NS_MASK },
    });
    await k.sys.close(s);
    return { k, ns, tap, ifname: 'virt0', ours, theirs };
  } catch (e) {
    ns.destroy();
    throw e;
  }
}
