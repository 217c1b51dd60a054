/*
 * The command-line runner of the rump.* tools (NetBSD's rump.<prog>
 * builds: the program plus librumpclient).  It loads bin/rump.NAME.ts,
 * connects to the kernel named by RUMP_SERVER, runs the tool's main with
 * the command's arguments and the process's standard output and error,
 * and resolves with its exit status.  The npm "bin" shims beside this
 * file call it; tests call tools' main directly with a kernel's sys.
 */

import { SyscallError } from '../../include/errno.ts';
import { rumpclient_init, type RumpClient } from '../../lib/librumpclient/rumpclient.ts';
import type { ToolIO, ToolMain } from '../tool.ts';

const stdio: ToolIO = {
  out: (s) => { process.stdout.write(s); },
  err: (s) => { process.stderr.write(s); },
};

/** What went wrong, without the errno prefix a SyscallError message starts with. */
function why(e: unknown): string {
  if (e instanceof SyscallError) {
    const m = /\((.*)\)$/s.exec(e.message);
    return m !== null ? m[1]! : e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The tool's main, or a message saying why there is none. */
async function load_tool(name: string): Promise<ToolMain | string> {
  if (!/^rump\.[a-z0-9_]+$/.test(name)) return `${name}: not a rump.* tool name`;
  const url = new URL(`../${name}.ts`, import.meta.url);
  let m: Record<string, unknown>;
  try {
    m = await import(url.href) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(`${name}.ts`)) {
      return `${name}: this tool is not installed (bin/${name}.ts is missing)`;
    }
    return `${name}: cannot load bin/${name}.ts: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (typeof m['main'] !== 'function') return `${name}: bin/${name}.ts does not export main(sys, argv, io)`;
  return m['main'] as ToolMain;
}

/** Run tool `name` against RUMP_SERVER; resolves with its exit status. */
export async function run_tool(name: string, argv: readonly string[] = process.argv.slice(2), io: ToolIO = stdio): Promise<number> {
  const main = await load_tool(name);
  if (typeof main === 'string') {
    io.err(`${main}\n`);
    return 1;
  }
  let client: RumpClient;
  try {
    client = await rumpclient_init(process.env['RUMP_SERVER'], { comm: name });
  } catch (e) {
    io.err(`${name}: rumpclient init failed: ${why(e)}\n`);
    return 1;
  }
  try {
    return await main(client, argv, io);
  } catch (e) {
    io.err(`${name}: ${why(e)}\n`);
    return 1;
  } finally {
    await client.close();
  }
}
