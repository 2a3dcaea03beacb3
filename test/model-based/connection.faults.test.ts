/**
 * Every generated path that can end well (a clean close, a half-close, data delivered, a refusal)
 * replayed once per datagram exchanged, with that one datagram lost, duplicated, or reordered
 * behind the next one, in each direction: the same outcome on both sides, every byte delivered
 * intact (test/model-based/fault-scenarios.ts). A case is named by the path, the direction and the
 * datagram's position in it: `CONNECT → … / remote→local #3 lost`.
 *
 * Seeded (the seed only picks the payload bytes): UTPX_SEED=<n> replays with another one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { feasible } from './connection-driver.js';
import { generatePaths } from './connection-model.js';
import { type Direction, EXCLUDED, type Fate, runScenario, SCENARIOS, type ScenarioResult } from './fault-scenarios.js';

const SEED = Number(process.env.UTPX_SEED ?? 0x5eed);
const DIRECTIONS: readonly Direction[] = ['local→remote', 'remote→local'];
const FATES: readonly Fate[] = ['lost', 'duplicated', 'reordered'];

const paths = generatePaths(feasible).map((p) => p.name);

describe('fault scenarios: which paths', () => {
  it('every generated path is replayed under faults or excluded with a reason, and no other', () => {
    const replayed = SCENARIOS.map((s) => s.path);
    const excluded = Object.keys(EXCLUDED);
    expect(
      replayed.filter((p) => excluded.includes(p)),
      'both replayed and excluded',
    ).toEqual([]);
    expect(
      paths.filter((p) => !replayed.includes(p) && !excluded.includes(p)),
      'generated paths with no decision',
    ).toEqual([]);
    expect(
      [...replayed, ...excluded].filter((p) => !paths.includes(p)),
      'paths no longer generated',
    ).toEqual([]);
  });
});

let cases = 0;
let reorderCases = 0;
let overtaken = 0;
let cpuUs = 0;

afterAll(() => {
  if (cases > 0) {
    console.log(
      `fault replays: ${cases} cases in ${(cpuUs / 1e6).toFixed(2)} CPU-s; ` +
        `${overtaken} of ${reorderCases} held datagrams were overtaken by their successor`,
    );
  }
});

function check(name: string, r: ScenarioResult): void {
  expect(r.problems, `${name} (seed ${SEED}, ${r.reason})\n--- trace ---\n${r.summary}`).toEqual([]);
}

SCENARIOS.forEach((sc, i) => {
  const seed = SEED + i;
  describe(sc.path, () => {
    const base = runScenario(sc, seed);
    it(`${sc.path} / no fault`, () => {
      check('no fault', base);
      expect(base.datagrams['local→remote']).toBeGreaterThan(0);
      if (sc.listen) expect(base.datagrams['remote→local']).toBeGreaterThan(0);
    });
    for (const direction of DIRECTIONS) {
      for (let nth = 1; nth <= base.datagrams[direction]; nth++) {
        for (const fate of FATES) {
          const name = `${sc.path} / ${direction} #${nth} ${fate}`;
          it(name, () => {
            const cpu0 = process.cpuUsage();
            const r = runScenario(sc, seed, { direction, nth, fate });
            const cpu = process.cpuUsage(cpu0);
            cpuUs += cpu.user + cpu.system;
            cases++;
            check(name, r);
            if (fate === 'reordered') {
              reorderCases++;
              if (r.faultApplied) overtaken++;
            } else {
              // The run exchanged at least as many datagrams as the fault-free one: the Nth existed.
              expect(r.faultApplied, `${name}: the datagram was never sent`).toBe(true);
            }
          });
        }
      }
    }
  });
});
