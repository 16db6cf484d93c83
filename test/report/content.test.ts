import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildReportContent, frontRowIndices } from '../../src/report/content.ts';
import { sampleReportData } from './sample-data.ts';

describe('frontRowIndices', () => {
  it('keeps a short front whole', () => {
    assert.deepEqual(frontRowIndices(5, 2), [0, 1, 2, 3, 4]);
  });

  it('thins a long front to at most 25 rows with both ends and the chosen point and its neighbours', () => {
    for (const chosen of [0, 1, 137, 398, 399]) {
      const rows = frontRowIndices(400, chosen);
      assert.ok(rows.length <= 25 && rows.length >= 20, `${rows.length}`);
      for (const i of [0, 399, chosen, Math.max(0, chosen - 1), Math.min(399, chosen + 1)]) assert.ok(rows.includes(i), `${chosen}: ${i}`);
      assert.deepEqual(
        rows,
        [...rows].sort((a, b) => a - b),
      );
    }
  });
});

describe('buildReportContent', () => {
  it('rejects a chosen index that is not a point of the front', () => {
    for (const index of [-1, 31, 1.5]) assert.throws(() => buildReportContent(sampleReportData({ chosen: { index, constraint: 'x' } })), RangeError);
  });

  it('gives every table row as many cells as the header', () => {
    for (const section of buildReportContent(sampleReportData()).sections) {
      for (const table of section.tables) {
        assert.equal(table.align.length, table.head.length);
        for (const row of table.rows) assert.equal(row.cells.length, table.head.length);
      }
    }
  });
});
