#!/usr/bin/env node
/* rump.ping: bin/rump.ping.ts against RUMP_SERVER (an npm "bin" shim). */
import { tool } from './shim.mjs';

await tool('rump.ping');
