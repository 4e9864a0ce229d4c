import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeWithTools, toolPath } from '../support/tools.js';

/**
 * Alerts and dashboards as code (ops/, issue 5): promtool checks and unit-tests the alert rules
 * and the example Prometheus configuration, and every PromQL expression of the rules and of the
 * Grafana dashboard names only metrics of the metrics contract (DESIGN.md section 3).
 */

const ALERTS = 'ops/prometheus/alerts.yml';
const ALERT_TESTS = 'ops/prometheus/alerts.test.yml';
const PROMETHEUS_CONFIG = 'ops/prometheus/prometheus.yml';
const DASHBOARD = 'ops/grafana/datasync-sync-health.json';
const RUNBOOK_DOC = 'docs/observability.md';

/** The metrics contract: every name a rule or panel may use (histogram suffixes stripped). */
const CONTRACT_METRICS = new Set([
  'datasync_sync_latency_seconds',
  'datasync_events_published_total',
  'datasync_events_consumed_total',
  'datasync_outbox_pending',
  'datasync_outbox_oldest_age_seconds',
  'datasync_dlq_depth',
  'datasync_data_freshness_seconds',
  'datasync_consumer_lag',
  'datasync_circuit_state',
  'datasync_cache_hits_total',
  'datasync_cache_misses_total',
  'datasync_cache_invalidations_total',
  'datasync_cdc_slot_retained_wal_bytes',
]);

/** The alerts issue 5 asks for (more may exist). */
const REQUIRED_ALERTS = [
  'DatasyncSyncLatencyP95OverSLA', 'DatasyncSyncFailureRateHigh', 'DatasyncDataFreshnessStale', 'DatasyncConsumerLagHigh',
  'DatasyncDlqDepthRising', 'DatasyncDlqDepthHigh', 'DatasyncOutboxAgeGrowing', 'DatasyncCircuitOpen',
  'DatasyncTopicRateDrop', 'DatasyncTopicRateSpike',
];

/**
 * Gauges every process watching the same source reports (instances of a service, relay standbys,
 * every process connected to the database): the same value once per `instance`. Queries must
 * aggregate them across instances with `max` (`min` for freshness: the copy is as fresh as its
 * freshest instance), by the source's own labels at most, never `sum` them or leave them bare.
 */
const PER_SOURCE_GAUGES: ReadonlyMap<string, { readonly aggregation: 'max' | 'min'; readonly labels: readonly string[] }> = new Map([
  ['datasync_dlq_depth', { aggregation: 'max', labels: ['consumer'] }],
  ['datasync_outbox_pending', { aggregation: 'max', labels: ['service'] }],
  ['datasync_outbox_oldest_age_seconds', { aggregation: 'max', labels: ['service'] }],
  ['datasync_consumer_lag', { aggregation: 'max', labels: ['topic', 'consumer'] }],
  ['datasync_data_freshness_seconds', { aggregation: 'min', labels: ['topic', 'consumer'] }],
  ['datasync_cdc_slot_retained_wal_bytes', { aggregation: 'max', labels: ['slot', 'schema'] }],
]);

/**
 * Uses of a per-source gauge in `expr` not directly inside its aggregation (`max by (consumer) (`,
 * optionally around `delta(`/`deriv(`), each as `<name> in <expr>`.
 */
function unaggregatedGauges(expr: string): string[] {
  return [...expr.matchAll(/datasync_[a-z_]+/g)].flatMap((match) => {
    const gauge = PER_SOURCE_GAUGES.get(match[0]);
    if (!gauge) return [];
    const before = /\b(max|min|sum|avg|count)(?: by \(([^)]*)\))? ?\((?:(?:delta|deriv)\()?$/.exec(expr.slice(0, match.index));
    const by = before?.[2]?.split(',').map((label) => label.trim()) ?? [];
    const ok = before?.[1] === gauge.aggregation && by.every((label) => gauge.labels.includes(label));
    return ok ? [] : [`${match[0]} in ${expr}`];
  });
}

/** Metric names an expression refers to, `_bucket`/`_sum`/`_count` stripped to the histogram's name. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/datasync_[a-z_]+/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, ''));
}

/** Names in `exprs` outside the contract, each with the expression it came from. */
function unknownMetrics(exprs: readonly string[]): string[] {
  return exprs.flatMap((expr) => metricNames(expr).filter((name) => !CONTRACT_METRICS.has(name)).map((name) => `${name} in ${expr}`));
}

/** One alerting rule as alerts.yml spells it (read as text: the project has no YAML parser). */
interface AlertRule {
  readonly name: string;
  readonly expr: string;
  readonly text: string;
}

function alertRules(): AlertRule[] {
  const text = readFileSync(ALERTS, 'utf8');
  return text.split(/^\s*- alert: /m).slice(1).map((block) => {
    const name = block.slice(0, block.indexOf('\n')).trim();
    // `expr: <one line>` or `expr: |` followed by lines indented deeper than `expr:`.
    const match = /^( *)expr: *(\|[-+]?)?(.*)\n((?:\1 +.*\n|\s*\n)*)/m.exec(block);
    if (!match) throw new Error(`${ALERTS}: alert ${name} has no expr`);
    const expr = match[2] ? match[4]!.trim() : match[3]!.trim();
    return { name, expr, text: block };
  });
}

interface DashboardPanel {
  readonly title?: string;
  readonly type: string;
  readonly targets?: readonly { readonly expr?: string }[];
  readonly panels?: readonly DashboardPanel[];
}

interface Dashboard {
  readonly schemaVersion: number;
  readonly panels: readonly DashboardPanel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly type: string; readonly query?: string | { readonly query: string } }[] };
  readonly annotations?: { readonly list: readonly { readonly expr?: string }[] };
}

function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
function allPanels(panels: readonly DashboardPanel[]): DashboardPanel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** The PromQL of every query the dashboard runs: panel targets and annotation queries. */
function dashboardQueries(board: Dashboard): string[] {
  const targets = allPanels(board.panels).flatMap((panel) => (panel.targets ?? []).map((target) => target.expr ?? ''));
  const annotations = (board.annotations?.list ?? []).flatMap((annotation) => (annotation.expr ? [annotation.expr] : []));
  return [...targets, ...annotations];
}

/** A template variable's query text (`label_values(…)`). */
function variableQuery(variable: Dashboard['templating']['list'][number]): string {
  return typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
}

/** The anchors GitHub gives the headings of a Markdown file, plus explicit `<a id>` anchors. */
function markdownAnchors(markdown: string): Set<string> {
  const headings = [...markdown.matchAll(/^#{1,6} +(.+?) *#* *$/gm)].map(([, heading]) =>
    heading!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  const explicit = [...markdown.matchAll(/<a (?:id|name)="([^"]+)"/g)].map(([, id]) => id!);
  return new Set([...headings, ...explicit]);
}

describe('ops: alert rules and the Grafana dashboard use only contract metrics', () => {
  it('alerts.yml has every required alert, each with severity, summary, description and a runbook', () => {
    const rules = alertRules();
    expect(rules.map((rule) => rule.name)).toEqual(expect.arrayContaining(REQUIRED_ALERTS));
    for (const rule of rules) {
      expect(rule.text, `${rule.name}: severity`).toMatch(/^\s+severity: (critical|warning)$/m);
      expect(rule.text, `${rule.name}: summary`).toMatch(/^\s+summary: ".*\S.*"$/m);
      expect(rule.text, `${rule.name}: description`).toMatch(/^\s+description: ".*\$(value|labels).*"$/m);
      expect(rule.text, `${rule.name}: runbook`).toMatch(/^\s+runbook: "docs\/observability\.md#[a-z0-9-]+"$/m);
    }
  });

  it('every alert expression names only contract metrics, and at least one', () => {
    const rules = alertRules();
    for (const rule of rules) expect(metricNames(rule.expr), `${rule.name}: ${rule.expr}`).not.toEqual([]);
    expect(unknownMetrics(rules.map((rule) => rule.expr))).toEqual([]);
    // Anywhere else in the file too (comments, annotations).
    expect(unknownMetrics([readFileSync(ALERTS, 'utf8')])).toEqual([]);
  });

  it('the dashboard parses, has the datasource, topic and consumer variables, and every query names only contract metrics', () => {
    const board = dashboard();
    expect(board.schemaVersion).toBeGreaterThanOrEqual(39);
    const variables = new Map(board.templating.list.map((variable) => [variable.name, variable]));
    expect(variables.get('datasource')?.type).toBe('datasource');
    for (const name of ['topic', 'consumer']) expect(variableQuery(variables.get(name)!), name).toMatch(/^label_values\(datasync_[a-z_]+.*, *[a-z]+\)$/);

    const graphs = allPanels(board.panels).filter((panel) => panel.type !== 'row');
    for (const panel of graphs) {
      const exprs = (panel.targets ?? []).map((target) => target.expr ?? '');
      expect(exprs.flatMap(metricNames), `panel "${panel.title}" queries no datasync metric`).not.toEqual([]);
    }
    const queries = [...dashboardQueries(board), ...board.templating.list.map(variableQuery)];
    expect(unknownMetrics(queries)).toEqual([]);
    // The dashboard shows every metric of the contract somewhere.
    const shown = new Set(queries.flatMap(metricNames));
    expect([...CONTRACT_METRICS].filter((name) => !shown.has(name))).toEqual([]);
  });

  it('a misspelt metric name is caught', () => {
    expect(unknownMetrics(['rate(datasync_events_publised_total[5m])'])).toEqual(['datasync_events_publised_total in rate(datasync_events_publised_total[5m])']);
    expect(unknownMetrics(['rate(datasync_sync_latncy_seconds_bucket[5m])'])).toEqual(['datasync_sync_latncy_seconds in rate(datasync_sync_latncy_seconds_bucket[5m])']);
    expect(unknownMetrics(['histogram_quantile(0.95, rate(datasync_sync_latency_seconds_bucket[5m]))'])).toEqual([]);
  });

  it('per-source gauges are aggregated across instances (max, min for freshness), never summed', () => {
    const exprs = [...alertRules().map((rule) => rule.expr), ...dashboardQueries(dashboard())];
    expect(exprs.flatMap(unaggregatedGauges)).toEqual([]);
    // The check itself: a sum, a bare gauge or an instance-keeping `by` is caught.
    expect(unaggregatedGauges('sum by (consumer) (datasync_dlq_depth)')).toHaveLength(1);
    expect(unaggregatedGauges('datasync_dlq_depth > 100')).toHaveLength(1);
    expect(unaggregatedGauges('max by (consumer, instance) (datasync_dlq_depth)')).toHaveLength(1);
    expect(unaggregatedGauges('max by (topic, consumer) (datasync_data_freshness_seconds)')).toHaveLength(1);
    expect(unaggregatedGauges('sum(max by (consumer) (datasync_dlq_depth{consumer=~"$consumer"}))')).toEqual([]);
    expect(unaggregatedGauges('max by (consumer) (delta(datasync_dlq_depth[10m])) > 0')).toEqual([]);
  });

  it('every alert has a promtool unit test that fires it and one that does not', () => {
    const tests = readFileSync(ALERT_TESTS, 'utf8');
    const cases = [...tests.matchAll(/alertname: (\w+)\n\s+exp_alerts:( \[\])?/g)];
    for (const { name } of alertRules()) {
      const mine = cases.filter(([, alert]) => alert === name);
      expect(mine.some(([, , empty]) => !empty), `${name}: no case in ${ALERT_TESTS} expects it to fire`).toBe(true);
      expect(mine.some(([, , empty]) => empty), `${name}: no case in ${ALERT_TESTS} expects it silent`).toBe(true);
    }
  });

  it(`every runbook anchor is a heading of ${RUNBOOK_DOC}`, () => {
    const anchors = markdownAnchors(readFileSync(RUNBOOK_DOC, 'utf8'));
    const runbooks = [...readFileSync(ALERTS, 'utf8').matchAll(/runbook: "docs\/observability\.md#([a-z0-9-]+)"/g)].map(([, anchor]) => anchor!);
    expect(runbooks.filter((anchor) => !anchors.has(anchor))).toEqual([]);
  });
});

describeWithTools(['promtool'], 'ops: promtool checks the rules and the Prometheus configuration', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'datasync-ops-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** Runs promtool; resolves with its exit code and output (killed after 60 s). */
  function promtool(args: readonly string[]): Promise<{ code: number; output: string }> {
    return new Promise((resolve) => {
      execFile(toolPath('promtool')!, args, { timeout: 60_000 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      });
    });
  }

  it('promtool check rules: alerts.yml is valid', async () => {
    const { code, output } = await promtool(['check', 'rules', ALERTS]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('promtool test rules: every alert fires on its failing series and stays silent on the others', async () => {
    const { code, output } = await promtool(['test', 'rules', ALERT_TESTS]);
    expect(code, output).toBe(0);
    expect(output).toContain('SUCCESS');
  });

  it('promtool check config: the example prometheus.yml is valid and loads alerts.yml', async () => {
    const { code, output } = await promtool(['check', 'config', PROMETHEUS_CONFIG]);
    expect(code, output).toBe(0);
    expect(output).toContain('1 rule files found');
  });

  it('every dashboard query is valid PromQL (checked as recording rules, Grafana variables filled in)', async () => {
    const queries = dashboardQueries(dashboard());
    const filled = queries.map((query) =>
      query.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replace(/\$\{?(topic|consumer|service)\}?/g, '.*'));
    const rules = filled.map((expr, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(expr)}\n`).join('');
    const file = path.join(scratch, 'dashboard-queries.yml');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}`);
    const { code, output } = await promtool(['check', 'rules', file]);
    expect(code, output).toBe(0);
    expect(output).toContain(`SUCCESS: ${queries.length} rules found`);
  });
});
