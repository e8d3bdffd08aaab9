#!/usr/bin/env node
// Entry point of the `weft` command (see docs/cli.md): runs the CLI and exits with its code.
import { main } from './cli.js';

/** Wait this long after the command finished for open handles to close, then exit anyway (ms). */
const EXIT_GRACE_MS = 2_000;

const code = await main(process.argv.slice(2));
process.exitCode = code;
setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
