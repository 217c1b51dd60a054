#!/usr/bin/env node
/* rump.netstat: bin/rump.netstat.ts against RUMP_SERVER (an npm "bin" shim). */
import { tool } from './shim.mjs';

await tool('rump.netstat');
