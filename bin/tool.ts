/*
 * The contract between a rump.* tool and whoever runs it.  A tool is a
 * module bin/rump.NAME.ts exporting main(sys, argv, io) that returns the
 * exit status; the command-line runner gives it a proxy client for
 * RUMP_SERVER, and tests give it an embedded kernel's sys and collect the
 * output.  Tools never print with console.* or exit the process themselves.
 */

import type { SysApi } from '../include/sysapi.ts';

export interface ToolIO {
  /** Standard output; the text carries its own newlines. */
  out(text: string): void;
  /** Standard error; the text carries its own newlines. */
  err(text: string): void;
}

export type ToolMain = (sys: SysApi, argv: readonly string[], io: ToolIO) => Promise<number>;
