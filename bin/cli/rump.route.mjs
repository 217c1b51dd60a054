#!/usr/bin/env node
/* rump.route: bin/rump.route.ts against RUMP_SERVER (an npm "bin" shim). */
import { tool } from './shim.mjs';

await tool('rump.route');
