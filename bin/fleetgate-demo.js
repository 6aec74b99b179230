#!/usr/bin/env node
// `npm start`: the compiled one-command demo (built by `npm install` through the prepare script).
import "../dist/device-sim/demo.js";
