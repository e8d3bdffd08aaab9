// Loads the application's @grpc/grpc-js (a peer dependency) on first use, so HTTP-only services need not install it.
import { createRequire } from 'node:module';
import { ERROR_CODES, MeshError } from '../../core/errors.js';

/** The @grpc/grpc-js module type. */
export type GrpcJs = typeof import('@grpc/grpc-js');

let loaded: GrpcJs | undefined;

/**
 * The one @grpc/grpc-js this process resolves from Weft's own location (npm dedupes the peer dependency to the
 * application's copy). Throws WEFT_ERR_INVALID_ARG, saying what to install, when it is missing.
 */
export function grpcJs(): GrpcJs {
  if (loaded !== undefined) return loaded;
  try {
    loaded = createRequire(import.meta.url)('@grpc/grpc-js') as GrpcJs;
    return loaded;
  } catch (e: unknown) {
    throw new MeshError(
      ERROR_CODES.INVALID_ARG,
      `mesh.grpc needs the peer dependency @grpc/grpc-js (~1.14): run \`npm install @grpc/grpc-js\` (${e instanceof Error ? e.message : String(e)})`,
      { nonRetryable: true, cause: e },
    );
  }
}
