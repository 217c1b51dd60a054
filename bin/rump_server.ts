/*
 * rump_server(1): a rump kernel in a process of its own, serving its
 * syscalls to remote clients (rump.ifconfig, programs using
 * lib/librumpclient) through the syscall proxy.
 *
 *   rump_server [-sv] [-c ncpu] [-d drivespec] [-l library]... url
 *
 * As NetBSD's: -l loads a component library by its NetBSD name
 * (rumpnet_netinet, librumpnet_netinet.so), url is unix://relative,
 * unix:///absolute or tcp://127.0.0.1:port; without -s the server
 * detaches and the command exits with the boot status once the server is
 * up (or failed); -v boots verbosely.  SIGTERM and SIGINT halt the kernel
 * and remove the socket; so does rump.halt from a client.
 *
 * Differences, each refused or warned about by name: one virtual CPU per
 * kernel (-c other than 1 warns and runs with 1); no block devices (-d),
 * no kernel modules (-m), no memory limit (-r).  tcp:// serves loopback
 * addresses only, since every client is root in the kernel.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, type Kernel, type KernelComponent } from '../librump/rumpkern/rump.ts';
import { ComponentError } from '../librump/rumpkern/component.ts';
import { rump_sp_hyperup } from '../librump/rumpkern/rump_sp.ts';
import { rumpuser_sp_init, sp_parseurl, type SpServer } from '../librump/rumpuser/rumpuser_sp.ts';
import { RB_HALT, RB_POWERDOWN } from '../include/syscall.ts';
import type { ToolIO } from './tool.ts';

export const USAGE = 'usage: rump_server [-sv] [-c ncpu] [-d drivespec] [-l library] url\n';

/** Set in the detached child: report the boot status to the parent over IPC. */
const DAEMON_ENV = 'RUMPTS_SERVER_DAEMON';

export interface ServerConfig {
  foreground: boolean;
  verbose: boolean;
  /** Component library names, normalised (rumpnet_netinet), in command-line order. */
  libs: string[];
  url: string;
  /** Things accepted with a caveat, printed before booting. */
  warnings: string[];
}

/** A bad command line: the message, then the usage. */
export class UsageError extends Error {
  constructor(message: string, readonly showUsage = true) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The component libraries -l knows, in the order they boot. */
const LIBS: ReadonlyMap<string, () => Promise<KernelComponent>> = new Map([
  ['rumpnet', async () => (await import('../librump/rumpnet/rumpnet_component.ts')).rumpnet_component],
  ['rumpnet_net', async () => (await import('../net/lib/libnet/net_component.ts')).rumpnet_net_component],
  ['rumpnet_local', async () => (await import('../net/lib/liblocal/local_component.ts')).rumplocal_component],
  ['rumpnet_netinet', async () => (await import('../net/lib/libnetinet/netinet_component.ts')).rumpnet_netinet_component],
  ['rumpnet_sockin', async () => (await import('../net/lib/libsockin/sockin_component.ts')).rumpnet_sockin_component],
  ['rumpnet_shmif', async () => {
    /* One set of buses per server: "ifconfig shmif0 linkstr NAME" makes bus NAME on first use. */
    const m = await import('../net/lib/libshmif/shmif_component.ts');
    return m.rumpnet_shmif_component(new m.ShmifNet());
  }],
  ['rumpnet_virtif', async () => (await import('../net/lib/libvirtif/virtif_component.ts')).rumpnet_virtif_component],
  ['rumpdev_bpf', async () => (await import('../dev/lib/libbpf/bpf_component.ts')).rumpdev_bpf_component],
]);

/** The core is always there; naming it is harmless, as linking librump twice is. */
const CORE_LIBS = new Set(['rump', 'rumpkern', 'rumpuser']);

/** -l's argument as NetBSD's dlopen retry sees it: lib prefix and .so suffix optional. */
export function lib_name(arg: string): string {
  return arg.replace(/\.so(\.[0-9]+)*$/, '').replace(/^lib/, '');
}

/** Parse the command line (getopt "c:d:l:m:r:sv"). */
export function rump_server_args(argv: readonly string[]): ServerConfig {
  const cfg: ServerConfig = { foreground: false, verbose: false, libs: [], url: '', warnings: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.length < 2 || a[0] !== '-') break;
    for (let j = 1; j < a.length; j++) {
      const opt = a[j]!;
      if (opt === 's') cfg.foreground = true;
      else if (opt === 'v') cfg.verbose = true;
      else if ('cdlmr'.includes(opt)) {
        let val = a.slice(j + 1);
        if (val === '') {
          i++;
          if (i >= argv.length) throw new UsageError(`option requires an argument -- ${opt}`);
          val = argv[i]!;
        }
        option(cfg, opt, val);
        break;
      } else {
        throw new UsageError(`unknown option -- ${opt}`);
      }
    }
  }
  const rest = argv.slice(i);
  if (rest.length !== 1) throw new UsageError(rest.length === 0 ? 'no url given' : `one url only (got ${rest.join(' ')})`);
  cfg.url = rest[0]!;
  return cfg;
}

function option(cfg: ServerConfig, opt: string, val: string): void {
  switch (opt) {
    case 'c': {
      if (!/^[0-9]+$/.test(val) || Number(val) < 1) throw new UsageError(`-c ${val}: the CPU count must be a positive integer`);
      if (Number(val) !== 1) {
        cfg.warnings.push(`-c ${val}: a rumpts kernel runs on one virtual CPU (the host's event loop); running with 1`);
      }
      return;
    }
    case 'd':
      throw new UsageError(`-d ${val}: block devices are not supported (rumpts has no block device or etfs layer)`, false);
    case 'm':
      throw new UsageError(`-m ${val}: kernel modules are not supported; load components with -l`, false);
    case 'r':
      throw new UsageError(`-r ${val}: a memory limit is not supported`, false);
    default: {
      const name = lib_name(val);
      if (CORE_LIBS.has(name)) return;
      if (!LIBS.has(name)) {
        throw new UsageError(`-l ${val}: no such component library (known: ${[...LIBS.keys()].join(', ')})`, false);
      }
      if (!cfg.libs.includes(name)) cfg.libs.push(name);
    }
  }
}

/** Load the libraries, in boot order. */
export async function load_components(libs: readonly string[]): Promise<KernelComponent[]> {
  const out: KernelComponent[] = [];
  for (const [name, load] of LIBS) {
    if (!libs.includes(name)) continue;
    try {
      out.push(await load());
    } catch (e) {
      throw new Error(`-l ${name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  return out;
}

/** "component X needs Y, which no listed component provides": say which -l provides Y. */
async function component_hint(msg: string): Promise<string> {
  const m = /needs (\S+), which no listed component provides/.exec(msg);
  if (m === null) return msg;
  for (const [name, load] of LIBS) {
    try {
      if ((await load()).provides?.includes(m[1]!)) return `${msg} (add -l ${name})`;
    } catch {
      /* a library that cannot load cannot be the hint */
    }
  }
  return msg;
}

const stdio: ToolIO = {
  out: (s) => { process.stdout.write(s); },
  err: (s) => { process.stderr.write(s); },
};

/** The parent half of detaching: start the server in a child and wait for its boot status. */
function detach(argv: readonly string[], io: ToolIO): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { ...process.env, [DAEMON_ENV]: '1' },
    });
    let done = false;
    const finish = (code: number, msg?: string): void => {
      if (done) return;
      done = true;
      if (msg !== undefined) io.err(msg);
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    child.on('message', (m: { status?: number; error?: string }) => {
      finish(m.status === 0 ? 0 : 1, m.error);
    });
    child.on('error', (e) => { finish(1, `rump_server: cannot start the server process: ${e.message}\n`); });
    child.on('exit', (code, signal) => {
      finish(1, `rump_server: the server exited during boot (${signal ?? `status ${code}`})\n`);
    });
  });
}

/**
 * The command.  Resolves with the exit status: at once for a bad command
 * line or a failed boot; after the server stops when serving in the
 * foreground; once the child reports its boot when detaching.
 */
export async function rump_server_main(argv: readonly string[], io: ToolIO = stdio): Promise<number> {
  let cfg: ServerConfig;
  try {
    cfg = rump_server_args(argv);
    sp_parseurl(cfg.url);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    io.err(`rump_server: ${msg}\n${e instanceof UsageError && e.showUsage ? USAGE : ''}`);
    return 1;
  }
  const daemon = process.env[DAEMON_ENV] === '1' && process.send !== undefined;
  if (!daemon) for (const w of cfg.warnings) io.err(`rump_server: warning: ${w}\n`);
  if (!cfg.foreground && !daemon) return detach(argv, io);
  delete process.env[DAEMON_ENV];

  const report = (status: number, error?: string): void => {
    if (!daemon) {
      if (error !== undefined) io.err(error);
      return;
    }
    /* The parent may have gone (killed while waiting): the server serves on regardless. */
    if (!process.connected) return;
    process.send!({ status, error });
    process.disconnect();
  };

  let srv: SpServer | null = null;
  let k: Kernel;
  try {
    const components = await load_components(cfg.libs);
    const host = new NodeHost({
      params: { RUMP_VERBOSE: cfg.verbose ? '1' : '0', RUMP_NCPU: '1' },
      console: cfg.verbose ? (s) => { io.out(s); } : () => {},
      onPanic: () => {
        void srv?.close();
        process.exit(1);
      },
    });
    try {
      k = await rump_init({ host, components });
    } catch (e) {
      throw e instanceof ComponentError ? new Error(await component_hint(e.message)) : e;
    }
  } catch (e) {
    report(1, `rump_server: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }

  let stopping: Promise<void> | null = null;
  let stopped: (code: number) => void = () => {};
  const served = new Promise<number>((resolve) => { stopped = resolve; });
  /* Halt, stop serving (the socket file goes), let the last replies out. */
  const stop = (why: string, keepProcess = false): Promise<void> => {
    if (stopping === null) {
      stopping = (async () => {
        if (cfg.verbose) io.out(`rump_server: ${why}\n`);
        const closing = srv?.close();
        await k.halt();
        await closing;
        if (keepProcess) {
          /* NetBSD's RB_HALT: the kernel is down but the process stays until it is signalled. */
          io.out('rump kernel halted (with RB_HALT, not exiting)\n');
          setInterval(() => {}, 0x7fffffff);
        } else {
          stopped(0);
        }
      })();
    }
    return stopping;
  };
  try {
    srv = await rumpuser_sp_init(cfg.url, rump_sp_hyperup(k, {
      onhalt: (howto) => { void stop('halted by a client', (howto & RB_POWERDOWN) !== RB_POWERDOWN && (howto & RB_HALT) !== 0); },
    }), { log: cfg.verbose ? (s) => { io.err(`rump_server: ${s}\n`); } : undefined });
  } catch (e) {
    await k.halt();
    report(1, `rump_server: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const onsignal = (sig: NodeJS.Signals): void => { void stop(`${sig}: halting`).then(() => { stopped(0); }); };
  process.on('SIGTERM', onsignal);
  process.on('SIGINT', onsignal);
  if (cfg.verbose) io.out(`rump_server: serving ${cfg.url}${srv.url.kind === 'tcp' ? ` (port ${srv.port})` : ''}\n`);
  report(0);
  return served;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await rump_server_main(process.argv.slice(2));
  process.exit();
}
