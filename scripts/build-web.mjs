// Bundles the edge page for the browser into dist/web/ (npm run build runs it after tsc): src/web/page.ts with the
// browser-safe entry it imports, onnxruntime-web's JavaScript and, in a chunk loaded only when chosen, tfjs. The
// WebAssembly binaries are not copied: the unit's server serves them from the installed onnxruntime-web and
// tfjs-backend-wasm, whose versions manifest.json records so that the server can refuse a stale bundle. Bundling
// here means an installed branchy serves the page without esbuild.
//
//   node scripts/build-web.mjs [--outdir DIR]
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
/** Files of src/web/ copied as they are. */
const STATIC_FILES = ['index.html', 'page.css', 'favicon.svg'];

/** The versions of the packages whose WebAssembly the page loads. */
function wasmPackageVersions() {
  const ort = join(dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm')), '..', 'package.json');
  const tfjs = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return {
    'onnxruntime-web': JSON.parse(readFileSync(ort, 'utf8')).version,
    '@tensorflow/tfjs-backend-wasm': JSON.parse(readFileSync(tfjs, 'utf8')).version,
  };
}

/**
 * Bundles the page into `outdir` (default dist/web) and writes its manifest.json.
 *
 * @param {{ outdir?: string, minify?: boolean }} [options]
 * @returns {Promise<{ outdir: string, files: string[], bytes: Record<string, number> }>}
 */
export async function buildWeb(options = {}) {
  const outdir = options.outdir ?? join(root, 'dist', 'web');
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: { page: join(root, 'src', 'web', 'page.ts') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    minify: options.minify ?? true,
    metafile: true,
    logLevel: 'warning',
  });
  for (const file of STATIC_FILES) copyFileSync(join(root, 'src', 'web', file), join(outdir, file));
  const bytes = {};
  for (const [path, output] of Object.entries(result.metafile.outputs)) bytes[relative(outdir, join(root, path)).split('\\').join('/')] = output.bytes;
  for (const file of STATIC_FILES) bytes[file] = readFileSync(join(outdir, file)).length;
  const files = Object.keys(bytes).sort();
  writeFileSync(join(outdir, 'manifest.json'), `${JSON.stringify({ format: 'branchy-web-bundle/1', files, packages: wasmPackageVersions() }, null, 2)}\n`);
  return { outdir, files, bytes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--outdir');
  const { outdir, files, bytes } = await buildWeb(at > 0 ? { outdir: process.argv[at + 1] } : {});
  const total = files.reduce((a, f) => a + bytes[f], 0);
  console.log(`edge page: ${files.length} files, ${(total / 1024).toFixed(0)} KiB in ${relative(process.cwd(), outdir) || '.'}`);
}
