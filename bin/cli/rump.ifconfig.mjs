#!/usr/bin/env node
/* rump.ifconfig: bin/rump.ifconfig.ts against RUMP_SERVER (an npm "bin" shim). */
import { tool } from './shim.mjs';

await tool('rump.ifconfig');
