#!/usr/bin/env node
/* rump_server: bin/rump_server.ts (an npm "bin" shim). */
import { server } from './shim.mjs';

await server();
