#!/usr/bin/env node
// Node 24 runs the TypeScript sources directly (type stripping); the bundled dist/ serves the Action.
import '../src/cli/main.ts';
