#!/usr/bin/env node
// The `npx sightline` entry: loads the TypeScript CLI through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
