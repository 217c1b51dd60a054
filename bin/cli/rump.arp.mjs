#!/usr/bin/env node
/* rump.arp: bin/rump.arp.ts against RUMP_SERVER (an npm "bin" shim). */
import { tool } from './shim.mjs';

await tool('rump.arp');
