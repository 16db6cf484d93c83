let loaded: Promise<void> | undefined;

/**
 * Registers tfjs's gradient functions, once. tfjs-core ships them only as ES module sources that Node cannot load
 * (their imports have no file extensions); the copy Node can load is compiled into the `@tensorflow/tfjs` bundle,
 * which registers them in tfjs's process-wide gradient registry when imported. Imported here, at run time, so
 * that neither inference nor branchy's type declarations pull in the rest of that bundle.
 */
export function loadTfjsGradients(): Promise<void> {
  loaded ??= import('@tensorflow/tfjs').then(() => undefined);
  return loaded;
}
