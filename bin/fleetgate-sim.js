#!/usr/bin/env node
// The published entry point runs the compiled simulator (built by `npm install` through the prepare script).
import "../dist/device-sim/cli.js";
