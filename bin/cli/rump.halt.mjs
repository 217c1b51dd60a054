#!/usr/bin/env node
/* rump.halt: bin/rump.halt.ts against RUMP_SERVER (an npm "bin" shim). */
import { tool } from './shim.mjs';

await tool('rump.halt');
