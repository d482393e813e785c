//! The monitoring files in `monitoring/` (Prometheus rules, Grafana dashboard) only use
//! metrics the services export.
//!
//! Every metric name in a rule's `expr` and a dashboard target's `expr` must be a series of a
//! fresh collector, storage or backfill registry (as their `metrics_exposition()` writes it:
//! counters as `<name>_total`, histograms as `<name>_bucket`, `_sum` and `_count`), a recording
//! rule of the rules file, or Prometheus's own `up`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;

/// A Prometheus rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    record: Option<String>,
    alert: Option<String>,
    expr: String,
    r#for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn monitoring_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../monitoring")
        .join(path)
}

fn rules() -> RuleFile {
    let path = monitoring_file("prometheus/marketprism.rules.yml");
    let text = std::fs::read_to_string(&path).expect("the rules file is readable");
    serde_norway::from_str(&text).expect("the rules file is a Prometheus rule file")
}

fn dashboard() -> serde_json::Value {
    let path = monitoring_file("grafana/marketprism.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard is readable");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every `expr` string anywhere in the dashboard (panel targets, nested panels, variables).
fn dashboard_exprs(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => found.push(expr.clone()),
                    _ => dashboard_exprs(value, found),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                dashboard_exprs(item, found);
            }
        }
        _ => {}
    }
}

/// Keywords of PromQL that are not metric names.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
];

/// Keywords followed by a parenthesized list of label names.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The index just past the bracket that closes the one at `start`, skipping strings.
fn skip_bracketed(chars: &[char], start: usize, close: char) -> usize {
    let mut index = start + 1;
    while index < chars.len() && chars[index] != close {
        index = match chars[index] {
            '"' | '\'' | '`' => skip_string(chars, index),
            _ => index + 1,
        };
    }
    index + 1
}

/// The index just past the string literal starting at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut index = start + 1;
    while index < chars.len() && chars[index] != quote {
        if chars[index] == '\\' && quote != '`' {
            index += 1;
        }
        index += 1;
    }
    index + 1
}

fn is_name_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_' || character == ':'
}

/// The metric names a PromQL expression selects: every identifier that is not a function or
/// aggregation (followed by `(`, or by `by`/`without`), a keyword, a label name (in a
/// matcher or a grouping clause), a string, a number, a duration or a Grafana variable.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let next_word = |mut index: usize| -> String {
        while index < chars.len() && chars[index].is_whitespace() {
            index += 1;
        }
        chars[index..]
            .iter()
            .take_while(|character| is_name_char(**character))
            .collect()
    };
    let next_char = |mut index: usize| -> Option<char> {
        while index < chars.len() && chars[index].is_whitespace() {
            index += 1;
        }
        chars.get(index).copied()
    };
    let mut names = BTreeSet::new();
    let mut index = 0;
    while index < chars.len() {
        let character = chars[index];
        if matches!(character, '"' | '\'' | '`') {
            index = skip_string(&chars, index);
        } else if character == '{' {
            let end = skip_bracketed(&chars, index, '}');
            let matchers: String = chars[index..end.min(chars.len())].iter().collect();
            assert!(
                !matchers.contains("__name__"),
                "select metrics by name, not with __name__: {expr}"
            );
            index = end;
        } else if character == '[' {
            index = skip_bracketed(&chars, index, ']');
        } else if character == '$' {
            // A Grafana variable: `$name` or `${name}`.
            index += 1;
            if chars.get(index) == Some(&'{') {
                index = skip_bracketed(&chars, index, '}');
            } else {
                while index < chars.len() && is_name_char(chars[index]) {
                    index += 1;
                }
            }
        } else if character.is_ascii_digit() || character == '.' {
            // Numbers and durations (`0.99`, `1e3`, `5m`).
            while index < chars.len() && (is_name_char(chars[index]) || chars[index] == '.') {
                index += 1;
            }
        } else if is_name_char(character) {
            let start = index;
            while index < chars.len() && is_name_char(chars[index]) {
                index += 1;
            }
            let word: String = chars[start..index].iter().collect();
            if GROUPING.contains(&word.as_str()) {
                if next_char(index) == Some('(') {
                    while chars[index] != '(' {
                        index += 1;
                    }
                    index = skip_bracketed(&chars, index, ')');
                }
            } else if KEYWORDS.contains(&word.as_str())
                || next_char(index) == Some('(')
                || matches!(next_word(index).as_str(), "by" | "without")
            {
                // A keyword, a function or an aggregation.
            } else {
                names.insert(word);
            }
        } else {
            index += 1;
        }
    }
    names
}

/// The series names in a Prometheus text exposition: from each `# TYPE` line (so a labelled
/// family without series yet counts) and each sample.
fn exposition_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(declaration) = line.strip_prefix("# TYPE ") {
            let (name, kind) = declaration
                .split_once(' ')
                .expect("a TYPE line names a metric and a type");
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "gauge" | "unknown" => &[""],
                "histogram" => &["_bucket", "_sum", "_count"],
                "info" => &["_info"],
                other => panic!("metric type {other} not handled: {line}"),
            };
            names.extend(suffixes.iter().map(|suffix| format!("{name}{suffix}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line
                .split(['{', ' '])
                .next()
                .expect("a sample starts with its name");
            names.insert(name.to_owned());
        }
    }
    names
}

/// Every series the services export, plus `up` (Prometheus's own, per scrape target).
fn exported() -> BTreeSet<String> {
    let mut names = BTreeSet::from(["up".to_owned()]);
    for text in [
        marketprism_collector::metrics_exposition(),
        marketprism_storage::metrics_exposition(),
        marketprism_backfill::metrics_exposition(),
    ] {
        names.extend(exposition_names(&text));
    }
    names
}

/// What may be queried: exported series and the rules file's recording rules.
fn known() -> BTreeSet<String> {
    let mut names = exported();
    names.extend(
        rules()
            .groups
            .into_iter()
            .flat_map(|group| group.rules)
            .filter_map(|rule| rule.record),
    );
    names
}

/// The names the expressions use that are not in `known`.
fn unknown_names<'a>(
    exprs: impl IntoIterator<Item = &'a str>,
    known: &BTreeSet<String>,
) -> BTreeSet<String> {
    exprs
        .into_iter()
        .flat_map(metric_names)
        .filter(|name| !known.contains(name))
        .collect()
}

#[test]
fn the_rules_use_only_exported_metrics() {
    let rules = rules();
    let exprs: Vec<&str> = rules
        .groups
        .iter()
        .flat_map(|group| &group.rules)
        .map(|rule| rule.expr.as_str())
        .collect();
    let used: BTreeSet<String> = exprs.iter().copied().flat_map(metric_names).collect();
    assert!(used.len() > 20, "too few metric names found: {used:?}");
    assert_eq!(unknown_names(exprs, &known()), BTreeSet::new());
}

#[test]
fn the_dashboard_uses_only_exported_metrics() {
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard(), &mut exprs);
    let used: BTreeSet<String> = exprs.iter().flat_map(|expr| metric_names(expr)).collect();
    assert!(used.len() > 20, "too few metric names found: {used:?}");
    assert_eq!(
        unknown_names(exprs.iter().map(String::as_str), &known()),
        BTreeSet::new()
    );
}

#[test]
fn the_check_rejects_names_no_service_exports() {
    let known = known();
    let unknown = |expr: &str| unknown_names([expr], &known);
    assert_eq!(
        unknown("sum by (instance) (rate(marketprism_collector_events_published_total[5m]))"),
        BTreeSet::new()
    );
    // A typo.
    assert_eq!(
        unknown("sum by (instance) (rate(marketprism_collector_events_publishd_total[5m]))"),
        BTreeSet::from(["marketprism_collector_events_publishd_total".to_owned()])
    );
    // A counter is queried with `_total`, a histogram through its series, a recording rule
    // by the name it records.
    assert_eq!(
        unknown(
            "rate(marketprism_storage_insert_failures[5m]) > 0 \
             or marketprism_storage_commit_latency_seconds > 1 \
             or marketprism:storage_commit_latency_seconds:p95 > 1"
        ),
        BTreeSet::from([
            "marketprism:storage_commit_latency_seconds:p95".to_owned(),
            "marketprism_storage_commit_latency_seconds".to_owned(),
            "marketprism_storage_insert_failures".to_owned(),
        ])
    );
    assert_eq!(
        unknown("marketprism:storage_commit_latency_seconds:p99 > 60"),
        BTreeSet::new()
    );
}

#[test]
fn names_are_told_from_functions_labels_strings_and_durations() {
    let expr = r#"histogram_quantile(0.99, sum by (le, table) (rate(a_bucket{job=~"x|y", le!="1"}[$__rate_interval] offset 1h)))
        > 1e3 and on () vector(1) or b unless ignoring (instance) c * on (job) group_left (venue) d:rule
        or sum without (status) (e) or count_values("value", f) or g offset -5m or $job"#;
    assert_eq!(
        metric_names(expr),
        ["a_bucket", "b", "c", "d:rule", "e", "f", "g"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
}

#[test]
fn the_exposition_names_counters_with_total_and_histograms_by_series() {
    let names = exported();
    for name in [
        "marketprism_collector_events_published_total",
        "marketprism_collector_rest_rate_limited_total",
        "marketprism_collector_oldest_ack_wait_seconds",
        "marketprism_storage_rows_inserted_total",
        "marketprism_storage_commit_latency_seconds_bucket",
        "marketprism_backfill_gaps_total",
        "marketprism_backfill_gaps_in_progress",
        "marketprism_backfill_rest_requests_total",
    ] {
        assert!(names.contains(name), "{name} not in {names:?}");
    }
    assert!(!names.contains("marketprism_collector_events_published"));
}

#[test]
fn every_alert_has_a_severity_and_tells_the_operator_what_to_do() {
    for group in rules().groups {
        assert!(group.name.starts_with("marketprism."), "{}", group.name);
        for rule in group.rules {
            assert!(
                rule.alert.is_some() != rule.record.is_some(),
                "a rule records or alerts: {rule:?}"
            );
            if let Some(duration) = &rule.r#for {
                assert!(
                    duration.ends_with(['s', 'm', 'h']),
                    "`for` is a duration: {rule:?}"
                );
            }
            let Some(alert) = rule.alert else {
                assert!(rule.labels.is_empty() && rule.annotations.is_empty());
                continue;
            };
            assert!(
                matches!(
                    rule.labels.get("severity").map(String::as_str),
                    Some("critical" | "warning" | "info")
                ),
                "{alert}: severity"
            );
            for annotation in ["summary", "description"] {
                assert!(
                    rule.annotations
                        .get(annotation)
                        .is_some_and(|text| text.len() > 20),
                    "{alert}: {annotation}"
                );
            }
        }
    }
}

#[test]
fn the_dashboard_asks_for_its_prometheus_datasource() {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating variables");
    assert!(variables
        .iter()
        .any(|variable| variable["name"] == "datasource" && variable["type"] == "datasource"));
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queried = 0;
    for panel in panels.iter().filter(|panel| panel["type"] != "row") {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{panel}");
        for target in panel["targets"].as_array().expect("targets") {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{target}");
            queried += 1;
        }
    }
    assert!(queried > 20);
}
