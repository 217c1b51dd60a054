/*
 * rump.halt(1): halt a rump kernel (reboot(2) in the server's kernel),
 * after which rump_server stops serving, removes its socket and exits.
 *
 *   rump.halt [-hn]
 *
 * -h is NetBSD's RB_HALT: the kernel halts but the server process stays
 * until it is signalled.  -n (do not sync) is accepted: there is nothing
 * to sync without file systems.  NetBSD's -d (dump core) is refused: a
 * rumpts kernel has no crash dumps.
 */

import type { SysApi } from '../include/sysapi.ts';
import { RB_AUTOBOOT, RB_HALT } from '../include/syscall.ts';
import type { ToolIO } from './tool.ts';
import { getopt, warn, warnx } from './lib/toolutil.ts';

const USAGE = 'usage: rump.halt [-hn]\n';

export async function main(sys: SysApi, argv: readonly string[], io: ToolIO): Promise<number> {
  const g = getopt(argv, 'dhn');
  if (g.error !== null || g.rest.length > 0) {
    warnx(io, 'rump.halt', g.error ?? `unexpected argument ${g.rest[0]}`);
    io.err(USAGE);
    return 1;
  }
  let howto = RB_AUTOBOOT;
  for (const { opt } of g.opts) {
    if (opt === 'd') {
      warnx(io, 'rump.halt', '-d: rumpts kernels do not dump core');
      return 1;
    }
    if (opt === 'h') howto |= RB_HALT;
  }
  try {
    await sys.reboot(howto);
  } catch (e) {
    warn(io, 'rump.halt', 'reboot', e);
    return 1;
  }
  return 0;
}
