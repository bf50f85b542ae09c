// Goal: a real browser renders the bench report: every chart draws non-empty SVG paths, the page
// logs no errors, and a screenshot is saved (test-output/report.png, git-ignored). Needs Debian's
// chromium (.ci/run installs it); without it the test is skipped and says so.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const CHROMIUM = process.env['AURORAL_CHROMIUM'] ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`report-browser.test.ts SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium, or set AURORAL_CHROMIUM; .ci/run installs it)`);
}

describe('bench report in headless Chromium', () => {
  it.skipIf(!hasChromium)('renders every chart with paths, no console errors, and saves a screenshot', async () => {
    const out = tempDir();
    const r = spawnSync(process.execPath, [path.resolve('dist/cli/main.js'), 'bench', '--workload', 'put', '--sweep', 'inflight=1,8',
      '--seconds', '0.3', '--warmup', '0.1', '--out', out, '--set', 'segmentBytes=1048576', '--set', 'valueBytesMax=16384',
      '--set', 'mtrBytesMax=65536', '--set', 'groupCommit.batchBytesMax=65536'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);

    const { chromium } = await import('playwright-core');
    // The closed network refuses Chromium's background connections: turn them off (see env notes).
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (q) => problems.push(`request failed: ${q.url()}`));
      await page.goto(pathToFileURL(path.join(out, 'report.html')).href);
      const charts = await page.$$eval('svg.chart', (svgs) => svgs.map((svg) => {
        const paths = [...svg.querySelectorAll('path')];
        const box = svg.getBoundingClientRect();
        return {
          title: svg.getAttribute('aria-label') ?? '',
          paths: paths.length,
          drawn: paths.filter((p) => (p.getAttribute('d') ?? '').length > 2 && p.getTotalLength() > 0).length,
          width: box.width,
          height: box.height,
        };
      }));
      // Throughput (with baseline (b)) / p50 / p99 vs inflight, CPU per thread, latency histogram,
      // stages, cut reasons, fdatasync per node.
      expect(charts.length).toBeGreaterThanOrEqual(8);
      expect(charts.some((c) => /CPU µs per put, per thread/.test(c.title))).toBe(true);
      for (const c of charts) {
        expect(c.drawn, c.title).toBeGreaterThan(0);
        expect(c.width * c.height, c.title).toBeGreaterThan(100 * 100);
      }
      const embedded = await page.$eval('#results', (s) => JSON.parse(s.textContent ?? '{}') as { points: unknown[] });
      expect(embedded.points).toHaveLength(2);
      fs.mkdirSync('test-output', { recursive: true });
      const shot = path.join('test-output', 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(fs.statSync(shot).size).toBeGreaterThan(20_000);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
