/**
 * Which non-loopback addresses `branchy unit --testbed` may bind: those of the network-namespace testbed
 * (docs/testbed.md), and only from inside one of its network namespaces, never in the machine's own.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BranchyArgumentError } from '../common/errors.ts';
import { LOOPBACK_HOSTS } from './process.ts';

/** The testbed's address range: every address of its namespaces' veth pairs lies in it. */
export const TESTBED_NETWORK = '10.77.0.0/16';

/** Where `ip netns add` names network namespaces. */
const NETNS_DIR = '/run/netns';

/** Whether `host` is an IPv4 address written as four decimal octets in 10.77.0.0/16. */
export function inTestbedNetwork(host: string): boolean {
  const m = /^10\.77\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m !== null && Number(m[1]) <= 255 && Number(m[2]) <= 255;
}

/** The inode of the kernel's initial network namespace (`PROC_NET_INIT_INO`): the machine's own. */
const INITIAL_NET_NAMESPACE_INODE = 0xeffffff9;

const RTF_UP = 0x0001;
const RTF_REJECT = 0x0200;

/** Whether the routing tables of this process's namespace (`/proc/net/route`, `ipv6_route`) hold a usable default route. */
function hasDefaultRoute(): boolean {
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n') : []);
  const v4 = read('/proc/net/route')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .some((f) => f.length >= 8 && f[1] === '00000000' && f[7] === '00000000' && (parseInt(f[3], 16) & RTF_UP) !== 0);
  // The kernel lists an unreachable ::/0 on lo in every namespace (flags carry RTF_REJECT): not a way out.
  const v6 = read('/proc/net/ipv6_route')
    .map((line) => line.trim().split(/\s+/))
    .some((f) => f.length >= 10 && /^0{32}$/.test(f[0]) && f[1] === '00' && (parseInt(f[8], 16) & (RTF_UP | RTF_REJECT)) === RTF_UP);
  return v4 || v6;
}

/**
 * Why this process's network namespace is not one a testbed made, or `undefined` when it is: the namespace must
 * differ from the kernel's initial one (the machine's), be named by `ip netns add` (a file under `/run/netns`), and
 * have no default route (so its addresses reach only the other namespaces its veth pairs join).
 */
export function testbedNamespaceRefusal(): string | undefined {
  let self: { ino: number; dev: number };
  try {
    self = statSync('/proc/self/ns/net');
  } catch (error) {
    return `this process cannot see its network namespace (${(error as Error).message})`;
  }
  if (self.ino === INITIAL_NET_NAMESPACE_INODE) return "this process runs in the machine's own network namespace, not in a testbed namespace";
  const named = existsSync(NETNS_DIR)
    ? readdirSync(NETNS_DIR).find((name) => {
        try {
          const s = statSync(join(NETNS_DIR, name));
          return s.ino === self.ino && s.dev === self.dev;
        } catch {
          return false;
        }
      })
    : undefined;
  if (named === undefined) return `this process's network namespace is not one named by 'ip netns add' (none under ${NETNS_DIR} is it)`;
  if (hasDefaultRoute()) return `network namespace '${named}' has a default route, so its addresses may reach beyond the testbed`;
  return undefined;
}

/**
 * Checks the address a unit binds. Loopback is always allowed. Anything else only with `testbed`, and then only an
 * address of 10.77.0.0/16 from inside a namespace `testbedNamespaceRefusal` accepts: there the address sits on a
 * veth pair that reaches nothing but the testbed's other namespaces.
 *
 * @throws BranchyArgumentError `SERVE_UNSAFE_HOST` naming what is missing.
 */
export function checkUnitHost(host: string, testbed: boolean): void {
  if (LOOPBACK_HOSTS.has(host)) return;
  if (!testbed) {
    throw new BranchyArgumentError(
      'SERVE_UNSAFE_HOST',
      `--host ${host} would expose the unit beyond this machine without authentication; bind 127.0.0.1 (or, inside a testbed namespace, an address of ${TESTBED_NETWORK} with --testbed).`,
    );
  }
  if (!inTestbedNetwork(host)) {
    throw new BranchyArgumentError('SERVE_UNSAFE_HOST', `--testbed binds only addresses of ${TESTBED_NETWORK}; --host is ${host}.`);
  }
  const refusal = testbedNamespaceRefusal();
  if (refusal !== undefined) {
    throw new BranchyArgumentError(
      'SERVE_UNSAFE_HOST',
      `--testbed --host ${host}: ${refusal}; run the unit with 'ip netns exec NAME branchy unit …' in a namespace of the testbed.`,
    );
  }
}
