#!/usr/bin/env node
// In this checkout Node 24 runs the TypeScript sources directly (type stripping). Installed as a package (npm install
// -g of a packed tarball) the files sit under node_modules, where Node strips no types: the committed bundle runs.
const installed = import.meta.url.includes('/node_modules/');
await import(installed ? '../dist/cli/index.js' : '../src/cli/main.ts');
