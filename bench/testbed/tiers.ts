/**
 * The tiers a cascade is deployed on, as the testbed bench reads them: a chain of hosts from the device up, each
 * with its CPU share and its uplink to the next, and which unit runs on which tier.
 *
 * ```json
 * {
 *   "tiers": [
 *     { "name": "device", "cpu": 0.2, "uplink": { "mbit": 10, "rttMs": 20 } },
 *     { "name": "edge", "uplink": { "mbit": 1000, "rttMs": 1 } },
 *     { "name": "cloud" }
 *   ],
 *   "placement": { "device": "device", "cloud": "cloud" }
 * }
 * ```
 *
 * @module
 */
import type { DeploymentPlan } from '../../src/cascade/types.ts';
import type { TestbedConfig } from '../../test/testbed/testbed.ts';

/** One tier: a host of the testbed. */
export interface Tier {
  name: string;
  /** Share of one core it may use; absent: not limited. */
  cpu?: number;
  /** Its link to the next tier; every tier but the last has one. */
  uplink?: { mbit: number; rttMs: number };
}

/** A chain of tiers and, optionally, the tier of each unit. */
export interface TiersConfig {
  tiers: Tier[];
  /** Unit name → tier name; by default a unit runs on the tier of its own name. */
  placement?: Record<string, string>;
}

/** The device / edge / cloud of the planner issue: 10 Mbit/s and 20 ms to the edge, 1 Gbit/s and 1 ms on to the cloud. */
export const DEFAULT_TIERS: TiersConfig = {
  tiers: [{ name: 'device', cpu: 0.2, uplink: { mbit: 10, rttMs: 20 } }, { name: 'edge', uplink: { mbit: 1000, rttMs: 1 } }, { name: 'cloud' }],
};

/**
 * The testbed a chain of tiers makes: one link per uplink, one CPU quota per limited tier.
 *
 * @throws Error for fewer than two tiers, or an uplink missing or left on the last tier.
 */
export function tiersTestbed(config: TiersConfig): TestbedConfig {
  const tiers = config.tiers;
  if (!Array.isArray(tiers) || tiers.length < 2)
    throw new Error(`'tiers' must list at least 2 tiers; it lists ${Array.isArray(tiers) ? tiers.length : 'none'}.`);
  const links = tiers.slice(0, -1).map((tier, i) => {
    if (tier.uplink === undefined) throw new Error(`tier '${tier.name}' has no 'uplink' to '${tiers[i + 1].name}'.`);
    return { from: tier.name, to: tiers[i + 1].name, mbit: tier.uplink.mbit, rttMs: tier.uplink.rttMs };
  });
  const last = tiers[tiers.length - 1];
  if (last.uplink !== undefined) throw new Error(`the last tier '${last.name}' has an 'uplink'; it has no next tier.`);
  const cpu = Object.fromEntries(tiers.filter((t) => t.cpu !== undefined).map((t) => [t.name, t.cpu!]));
  return { links, cpu };
}

/**
 * Which tier each unit of a plan runs on: `placement`'s, else the tier named like the unit.
 *
 * @throws Error for a unit with no tier, or a placement naming a tier that does not exist.
 */
export function placeUnits(plan: DeploymentPlan, config: TiersConfig): Record<string, string> {
  const names = config.tiers.map((t) => t.name);
  const placement: Record<string, string> = {};
  for (const unit of plan.units) {
    const tier = config.placement?.[unit.name] ?? (names.includes(unit.name) ? unit.name : undefined);
    if (tier === undefined) throw new Error(`unit '${unit.name}' has no tier: give "placement": { "${unit.name}": TIER } (tiers: ${names.join(', ')}).`);
    if (!names.includes(tier)) throw new Error(`placement puts unit '${unit.name}' on '${tier}'; the tiers are ${names.join(', ')}.`);
    placement[unit.name] = tier;
  }
  return placement;
}
