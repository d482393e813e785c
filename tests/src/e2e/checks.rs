//! Check results and the table they print as.

/// One verified property.
#[derive(Debug, Clone)]
pub struct Check {
    pub scenario: &'static str,
    pub name: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
}

impl Check {
    /// A check that `actual == expected`.
    pub fn equal<T: PartialEq + std::fmt::Display>(
        scenario: &'static str,
        name: &str,
        expected: T,
        actual: T,
    ) -> Self {
        Check {
            scenario,
            name: name.to_owned(),
            passed: expected == actual,
            expected: expected.to_string(),
            actual: actual.to_string(),
        }
    }

    /// A check of a condition described by `expected`.
    pub fn holds(
        scenario: &'static str,
        name: &str,
        expected: &str,
        actual: String,
        passed: bool,
    ) -> Self {
        Check {
            scenario,
            name: name.to_owned(),
            expected: expected.to_owned(),
            actual,
            passed,
        }
    }

    /// That nothing of a kind was `found`: `0 {what}`, or the count and the first example.
    pub fn none_of(scenario: &'static str, name: &str, what: &str, found: &[String]) -> Self {
        Check::holds(
            scenario,
            name,
            &format!("0 {what}"),
            found.first().map_or_else(
                || format!("0 {what}"),
                |first| format!("{} {what}, e.g. {first}", found.len()),
            ),
            found.is_empty(),
        )
    }

    /// The collector exited 0 after SIGTERM.
    pub fn clean_stop(scenario: &'static str, collector_clean: bool) -> Self {
        let actual = if collector_clean {
            "exit 0"
        } else {
            "non-zero exit"
        };
        Check::holds(
            scenario,
            "collector stops cleanly",
            "exit 0 after SIGTERM",
            actual.into(),
            collector_clean,
        )
    }

    /// The collector kept within every venue's WebSocket limits: the simulator, which
    /// enforces them as the venues do, refused no connection or request and closed no
    /// connection for its message rate.
    pub fn within_ws_limits(scenario: &'static str, report: &marketprism_sim::Report) -> Self {
        let refused: Vec<String> = report
            .ws_usage
            .iter()
            .filter(|(_, usage)| usage.refusals() > 0)
            .map(|(venue, usage)| {
                format!(
                    "{venue}: {} connections refused, {} requests refused, {} closed for their rate",
                    usage.refused_connections, usage.refused_requests, usage.closed_for_messages
                )
            })
            .collect();
        let mut check = Check::none_of(
            scenario,
            "within every venue's WebSocket limits",
            "refusals",
            &refused,
        );
        if refused.is_empty() {
            let connections: u64 = report
                .ws_usage
                .values()
                .map(|usage| usage.connections)
                .sum();
            check.actual = format!(
                "0 refusals; {connections} connections to {} venues",
                report.ws_usage.len()
            );
        }
        check
    }

    /// A measurement reported alongside the checks; it cannot fail.
    pub fn measured(scenario: &'static str, name: &str, actual: String) -> Self {
        Check {
            scenario,
            name: name.to_owned(),
            expected: "(measured)".into(),
            actual,
            passed: true,
        }
    }
}

/// Prints the checks as an aligned table.
pub fn print_table(checks: &[Check]) {
    let headers = ["scenario", "check", "expected", "actual", "result"];
    let rows: Vec<[String; 5]> = checks
        .iter()
        .map(|check| {
            [
                check.scenario.to_owned(),
                check.name.clone(),
                check.expected.clone(),
                check.actual.clone(),
                if check.passed { "ok" } else { "FAILED" }.to_owned(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; 5]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(headers);
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
}
