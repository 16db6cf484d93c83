/**
 * Named moments at which a process can be made to die on purpose, so that tests can kill a real run exactly
 * where it is most fragile (between writing a file and renaming it, between two commits) rather than hoping a
 * timer lands there. Set `BRANCHY_FAILPOINT=<name>` to be killed (SIGKILL, as the kernel's OOM killer or a power
 * cut would stop it) at the first time the run passes `<name>`, or `<name>@<k>` at the k-th time. Unset, a
 * failpoint costs one environment lookup.
 *
 * @module
 */

const hits = new Map<string, number>();

/** The failpoint set in the environment, parsed once per value. */
function armed(): { name: string; hit: number } | undefined {
  const value = process.env.BRANCHY_FAILPOINT;
  if (!value) return undefined;
  const at = value.lastIndexOf('@');
  const hit = at > 0 ? Number(value.slice(at + 1)) : 1;
  return { name: at > 0 ? value.slice(0, at) : value, hit: Number.isInteger(hit) && hit >= 1 ? hit : 1 };
}

/** Passes failpoint `name`: kills this process with SIGKILL when `BRANCHY_FAILPOINT` names this passage. */
export function failpoint(name: string): void {
  const target = armed();
  if (target === undefined || target.name !== name) return;
  const count = (hits.get(name) ?? 0) + 1;
  hits.set(name, count);
  if (count === target.hit) process.kill(process.pid, 'SIGKILL');
}
