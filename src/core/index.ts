// Re-exports of the runtime-independent core: errors, watches, stacks, logging.
export * from './errors.js';
export * from './watch.js';
export * from './stack.js';
export * from './logger.js';
