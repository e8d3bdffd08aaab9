// What the benchmarks measure: the compiled package in dist/ (what `npm install weft` gives users), not the
// TypeScript sources through tsx, whose esbuild transform (keepNames) adds an Object.defineProperty to every closure
// created per call (measured at ~0.5 µs a call in the retry layer) and so overstates the mesh's cost.
// `npm run bench` builds first; run `npm run build` before running a benchmark file by hand.
import { existsSync } from 'node:fs';

if (!existsSync(new URL('../dist/src/index.js', import.meta.url))) {
  throw new Error('benchmarks measure the built package: run `npm run build` first');
}

export { createMesh, type Mesh } from '../dist/src/index.js';
export { addEchoService, EchoClient, say, type EchoClientInstance } from '../dist/src/testing/index.js';
export { startControlPlane } from '../dist/control-plane/src/index.js';
