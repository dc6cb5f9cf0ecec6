#!/usr/bin/env node
// The `xft` command: runs the TypeScript sources directly through tsx, so there is no build step.
const path = require("path");
process.env.XFT_ROOT ??= path.resolve(__dirname, "..");
require("tsx/cjs");
const { main } = require("../src/cli/main.ts");
main(process.argv.slice(2)).then((code) => process.exit(code));
