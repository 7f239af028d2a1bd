#!/usr/bin/env node
// The `agent` command. A committed shim so npm can link the bin at install time, before
// `prepare` (tsc -b) has built dist/.
import { main } from '../dist/cli/main.js';

process.exitCode = await main();
