import { existsSync } from 'node:fs';

/** A Debian package some tests need, and the file whose presence shows it is installed. */
export interface SystemPackage {
  /** Debian package name, e.g. `dataset-fashion-mnist`. */
  name: string;
  /** A path the package installs. */
  path: string;
}

/** Debian's Fashion-MNIST: 70,000 IDX gzip images under /usr/share/datasets/fashion-mnist. */
export const FASHION_MNIST_PACKAGE: SystemPackage = { name: 'dataset-fashion-mnist', path: '/usr/share/datasets/fashion-mnist' };

/** Debian's NATS server, which the NATS transport's tests start on a free loopback port. */
export const NATS_SERVER_PACKAGE: SystemPackage = { name: 'nats-server', path: '/usr/sbin/nats-server' };

/** Debian's iproute2 (`ip`, `tc`), with which the testbed (test/testbed/) makes namespaces, veth pairs and qdiscs. */
export const IPROUTE2_PACKAGE: SystemPackage = { name: 'iproute2', path: '/sbin/tc' };

/** Debian's curl, one of the real clients the server's oversized-body test sends with. */
export const CURL_PACKAGE: SystemPackage = { name: 'curl', path: '/usr/bin/curl' };

/**
 * Debian's PyTorch for the system Python, with which the PyTorch-trunk test trains a plain CNN and exports it as
 * ONNX segments (examples/pytorch-trunk/train_export.py). Run it with `SYSTEM_PYTHON`: a `python3` earlier on PATH
 * (pyenv, a venv) may not see Debian's packages.
 */
export const PYTHON3_TORCH_PACKAGE: SystemPackage = { name: 'python3-torch', path: '/usr/lib/python3/dist-packages/torch' };

/** The Python that Debian's python3-* packages are installed for. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Debian's Chromium, which the edge page's browser test drives through playwright-core. */
export const CHROMIUM_PACKAGE: SystemPackage = { name: 'chromium', path: '/usr/bin/chromium' };

/**
 * The `skip` option for a test or suite that needs a system package. Where the package is installed, the test
 * runs. Where it is absent, the test is skipped with a reason naming the package and its install line, so
 * `npm test` passes on a newcomer's machine; under `CI=true` (CI installs every package in .ci/run) an absent
 * package is a failure, thrown here so the test file fails and says why.
 *
 * @example
 * describe('Fashion-MNIST', { skip: needs(FASHION_MNIST_PACKAGE) }, () => { … });
 */
export function needs(pkg: SystemPackage): string | false {
  if (existsSync(pkg.path)) return false;
  const reason = `needs Debian's ${pkg.name} (${pkg.path} is absent): sudo apt-get install -y ${pkg.name}`;
  if (process.env.CI === 'true') throw new Error(`CI=true and this test ${reason}; .ci/run must install it.`);
  return reason;
}
