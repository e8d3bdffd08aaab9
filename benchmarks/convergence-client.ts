// One process of the convergence benchmark: runs MESHES independent meshes (each its own ADS stream) and reports,
// per mesh, the wall-clock time at which the route for http://conv/ starts sending traffic to a different cluster.
import { createMesh, type Mesh } from './lib.js';

const count = Number(process.env.MESHES ?? '25');
const controlPlane = process.env.WEFT_CONTROL_PLANE!;
const base = Number(process.env.BASE ?? '0');

async function clusterOf(mesh: Mesh): Promise<string> {
  const explanation = await mesh.explain('http://conv/');
  return explanation.route?.clusters.map((c) => `${c.name}=${c.weight}`).join(',') ?? 'none';
}

const meshes = await Promise.all(
  Array.from({ length: count }, async (_, i) => {
    const mesh = await createMesh({ service: `conv-client-${base + i}`, controlPlane, dependsOn: ['conv'] });
    await mesh.ready();
    let current = await clusterOf(mesh);
    process.stdout.write(`${JSON.stringify({ type: 'ready', id: base + i, route: current })}\n`);
    mesh.onConfig(() => {
      void clusterOf(mesh).then((route) => {
        if (route === current) return;
        current = route;
        process.stdout.write(`${JSON.stringify({ type: 'changed', id: base + i, route, atMs: Date.now() })}\n`);
      });
    });
    return mesh;
  }),
);

process.on('SIGTERM', async () => {
  await Promise.all(meshes.map((m) => m.close()));
  process.exit(0);
});
