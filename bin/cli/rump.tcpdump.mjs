#!/usr/bin/env node
/* rump.tcpdump: bin/rump.tcpdump.ts against RUMP_SERVER (an npm "bin" shim). */
import { tool } from './shim.mjs';

await tool('rump.tcpdump');
