/*
 * What every npm "bin" shim in this directory does: load TypeScript
 * through tsx, run the command, exit with its status once standard output
 * has drained.
 */
import { register } from 'tsx/esm/api';

register();

function exit(code) {
  process.stdout.write('', () => { process.exit(code); });
}

/** A rump.* tool through the rumpclient runner. */
export async function tool(name) {
  const { run_tool } = await import('./run_tool.ts');
  exit(await run_tool(name));
}

/** rump_server itself. */
export async function server() {
  const { rump_server_main } = await import('../rump_server.ts');
  exit(await rump_server_main(process.argv.slice(2)));
}
