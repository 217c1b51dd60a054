#!/usr/bin/env node
/* rump.sysctl: bin/rump.sysctl.ts against RUMP_SERVER (an npm "bin" shim). */
import { tool } from './shim.mjs';

await tool('rump.sysctl');
