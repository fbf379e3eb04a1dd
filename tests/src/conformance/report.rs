//! Outcomes, the per-area / per-language table, and the floor (ratchet) check.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::compare::{Difference, truncate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// The run finished but its normalised response differs from the snapshot.
    Fail,
    /// The harness or the engine returned an error (definition rejected, start failed, …).
    Error,
    /// The case did not finish within its time limit.
    Timeout,
}

#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub id: String,
    pub area: String,
    pub language: String,
    pub status: Status,
    /// One line: the first difference or the error.
    pub summary: String,
    /// Full differences (verbose mode).
    pub details: Vec<String>,
    /// For `choice_io` cases: (pairs passed, pairs).
    pub pairs: Option<(usize, usize)>,
    /// For failures: the category found from all differences (see [`categorise`]).
    pub fail_category: Option<String>,
}

impl CaseOutcome {
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    /// A coarse failure category, for grouping.
    pub fn category(&self) -> String {
        match self.status {
            Status::Pass => "pass".into(),
            Status::Timeout => "timeout".into(),
            Status::Error => {
                let head: String = self
                    .summary
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(60)
                    .collect();
                format!("error: {head}")
            }
            Status::Fail => self
                .fail_category
                .clone()
                .unwrap_or_else(|| diff_category(&self.summary)),
        }
    }
}

fn diff_category(summary: &str) -> String {
    let pointer = summary.split(':').next().unwrap_or("");
    let tokens: Vec<&str> = pointer.split('/').filter(|t| !t.is_empty()).collect();
    if summary.contains("(missing)") && tokens.len() == 2 && tokens[0] == "events" {
        return "diff: event count (missing/extra events)".into();
    }
    if tokens.last() == Some(&"type") && tokens.first() == Some(&"events") {
        return "diff: event type sequence".into();
    }
    let last_name = tokens
        .iter()
        .rev()
        .find(|t| t.parse::<usize>().is_err())
        .copied()
        .unwrap_or("(root)");
    format!("diff: {last_name}")
}

/// The category of a failed comparison: an unexpected `ExecutionFailed` (with its error and
/// cause) explains everything after it; otherwise the location of the first difference.
pub fn categorise(diffs: &[Difference], expected_fails: bool) -> String {
    let unexpected_failure = diffs
        .iter()
        .find(|d| d.expected.is_none() && d.pointer.ends_with("/executionFailedEventDetails"));
    if let Some(details) = unexpected_failure.and_then(|d| d.actual.as_ref()) {
        let error = details.get("error").and_then(|v| v.as_str()).unwrap_or("");
        let cause = details.get("cause").map(cause_text).unwrap_or_default();
        let what = if expected_fails {
            "fails at another point"
        } else {
            "unexpected ExecutionFailed"
        };
        return format!("{what}: {error}: {}", truncate(&cause, 90));
    }
    let Some(first) = diffs.first() else {
        return "pass".into();
    };
    let tokens: Vec<String> = first
        .pointer
        .split('/')
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.parse::<usize>().is_ok() {
                "N".to_string()
            } else {
                t.to_string()
            }
        })
        .collect();
    if tokens.len() == 2 && tokens[0] == "events" {
        return "diff: missing/extra events".into();
    }
    if tokens.len() == 3 && tokens[0] == "events" && tokens[2] == "type" {
        return "diff: event type sequence".into();
    }
    let tail: Vec<&str> = tokens
        .iter()
        .skip(2)
        .filter(|t| *t != "N")
        .take(2)
        .map(String::as_str)
        .collect();
    let place = if tail.is_empty() {
        tokens.join("/")
    } else {
        tail.join("/")
    };
    let how = match (&first.expected, &first.actual) {
        (Some(_), None) => " missing",
        (None, Some(_)) => " extra",
        _ => "",
    };
    format!("diff: {place}{how}")
}

/// A cause without the state-specific prefix AWS puts before runtime errors.
fn cause_text(cause: &serde_json::Value) -> String {
    let text = match cause {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.find("). ") {
        Some(i) if text.starts_with("An error occurred while executing the state") => {
            text[i + 3..].to_string()
        }
        _ => text,
    }
}

/// One line: `text` cut to `width` characters, newlines as spaces.
pub fn truncate_line(text: &str, width: usize) -> String {
    truncate(text, width).replace('\n', " ")
}

/// Short label of a query language (`JSONPath` → `jsonpath`).
pub fn language_group(language: &str) -> String {
    language.to_lowercase()
}

const LANGUAGES: [&str; 3] = ["JSONPath", "JSONata", "mixed"];

#[derive(Debug, Default, Clone, Copy)]
struct Cell {
    passed: usize,
    total: usize,
}

impl Cell {
    fn add(&mut self, passed: bool) {
        self.total += 1;
        if passed {
            self.passed += 1;
        }
    }

    fn show(self) -> String {
        if self.total == 0 {
            "–".into()
        } else {
            format!("{}/{}", self.passed, self.total)
        }
    }
}

/// Pass counts per group name: `total`, each language (`jsonpath`, …) and each area.
pub fn group_counts(outcomes: &[CaseOutcome]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        for group in [
            "total".to_string(),
            language_group(&o.language),
            o.area.clone(),
        ] {
            let entry = counts.entry(group).or_insert(0);
            if o.passed() {
                *entry += 1;
            }
        }
        if let Some((passed, _)) = o.pairs {
            *counts.entry("choice_pairs".into()).or_insert(0) += passed;
        }
    }
    counts
}

/// The Markdown table: one row per area, columns per language.
pub fn table(outcomes: &[CaseOutcome]) -> String {
    let mut rows: BTreeMap<&str, [Cell; 3]> = BTreeMap::new();
    let mut totals = [Cell::default(); 3];
    for o in outcomes {
        let col = LANGUAGES.iter().position(|l| *l == o.language).unwrap_or(2);
        rows.entry(&o.area).or_default()[col].add(o.passed());
        totals[col].add(o.passed());
    }
    let mut out = String::new();
    out.push_str("| area | JSONPath | JSONata | mixed | total |\n|---|---|---|---|---|\n");
    for (area, cells) in &rows {
        let sum = sum_cells(cells);
        let _ = writeln!(
            out,
            "| {area} | {} | {} | {} | {} |",
            cells[0].show(),
            cells[1].show(),
            cells[2].show(),
            sum.show()
        );
    }
    let sum = sum_cells(&totals);
    let _ = writeln!(
        out,
        "| **total** | {} | {} | {} | **{}** |",
        totals[0].show(),
        totals[1].show(),
        totals[2].show(),
        sum.show()
    );
    let (pairs_passed, pairs_total) = outcomes
        .iter()
        .filter_map(|o| o.pairs)
        .fold((0, 0), |acc, (p, t)| (acc.0 + p, acc.1 + t));
    if pairs_total > 0 {
        let _ = writeln!(
            out,
            "\n`choice_operators` counts cases; input→output pairs: {pairs_passed}/{pairs_total}."
        );
    }
    out
}

fn sum_cells(cells: &[Cell; 3]) -> Cell {
    cells.iter().fold(Cell::default(), |acc, c| Cell {
        passed: acc.passed + c.passed,
        total: acc.total + c.total,
    })
}

/// Failure categories with their counts and a few example ids.
pub fn categories(outcomes: &[CaseOutcome]) -> Vec<(String, Vec<String>)> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| !o.passed()) {
        by.entry(o.category()).or_default().push(o.id.clone());
    }
    let mut list: Vec<(String, Vec<String>)> = by.into_iter().collect();
    list.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    list
}

/// The whole report as Markdown.
pub fn markdown(outcomes: &[CaseOutcome], width: usize) -> String {
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    let failed = outcomes.len() - passed;
    let mut out = format!("# ASL conformance report\n\n{passed} passed, {failed} failed\n\n");
    out.push_str(&table(outcomes));
    out.push_str("\n## Failure categories\n\n| category | cases | examples |\n|---|---|---|\n");
    for (category, ids) in categories(outcomes) {
        let examples: Vec<String> = ids.iter().take(3).map(|id| short_id(id)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            category.replace('|', "\\|"),
            ids.len(),
            examples.join("<br>").replace('|', "\\|")
        );
    }
    out.push_str("\n## Failing cases\n\n");
    for o in outcomes.iter().filter(|o| !o.passed()) {
        let _ = writeln!(
            out,
            "* `{}` ({:?}): {}",
            short_id(&o.id),
            o.status,
            truncate(&o.summary, width).replace('\n', " ")
        );
    }
    out
}

/// The case id without the common `tests/aws/services/stepfunctions/v2/` prefix.
pub fn short_id(id: &str) -> String {
    id.strip_prefix("tests/aws/services/stepfunctions/v2/")
        .unwrap_or(id)
        .to_string()
}

/// Parses `tests/conformance-floor.txt`: `group count` per line, `#` comments.
pub fn parse_floor(text: &str) -> BTreeMap<String, usize> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let group = parts.next()?;
            let count = parts.next()?.parse().ok()?;
            Some((group.to_string(), count))
        })
        .collect()
}

/// Groups whose pass count fell below the floor: `(group, floor, actual)`.
pub fn below_floor(
    floor: &BTreeMap<String, usize>,
    counts: &BTreeMap<String, usize>,
) -> Vec<(String, usize, usize)> {
    floor
        .iter()
        .filter_map(|(group, min)| {
            let got = counts.get(group).copied().unwrap_or(0);
            (got < *min).then(|| (group.clone(), *min, got))
        })
        .collect()
}

/// The floor file for the given counts.
pub fn render_floor(counts: &BTreeMap<String, usize>) -> String {
    let mut out = String::from(
        "# Conformance floor (a ratchet): the run fails if any group passes fewer cases.\n\
         # Raise these when the engine improves (CONFORMANCE_UPDATE_FLOOR=1 rewrites this file\n\
         # from a full run); never lower them to make a regression pass.\n",
    );
    for (group, count) in counts {
        let _ = writeln!(out, "{group} {count}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(area: &str, language: &str, status: Status, summary: &str) -> CaseOutcome {
        CaseOutcome {
            id: format!("tests/aws/services/stepfunctions/v2/{area}/x.py::T::t_{summary}"),
            area: area.into(),
            language: language.into(),
            status,
            summary: summary.into(),
            details: vec![],
            pairs: None,
            fail_category: None,
        }
    }

    #[test]
    fn table_and_floor() {
        let outcomes = vec![
            outcome("base", "JSONPath", Status::Pass, ""),
            outcome(
                "base",
                "JSONPath",
                Status::Fail,
                "/events/3/type: expected \"A\", actual \"B\"",
            ),
            outcome(
                "assign",
                "JSONata",
                Status::Error,
                "create_state_machine: bad",
            ),
        ];
        let t = table(&outcomes);
        assert!(t.contains("| base | 1/2 | – | – | 1/2 |"), "{t}");
        assert!(t.contains("| **total** | 1/2 | 0/1 | – | **1/3** |"), "{t}");
        let counts = group_counts(&outcomes);
        assert_eq!(counts["total"], 1);
        assert_eq!(counts["jsonata"], 0);
        let floor = parse_floor("# c\ntotal 1\nbase 2 # comment\n");
        assert_eq!(
            below_floor(&floor, &counts),
            vec![("base".to_string(), 2, 1)]
        );
        assert_eq!(parse_floor(&render_floor(&counts)), counts);
        assert_eq!(outcomes[1].category(), "diff: event type sequence");
        assert_eq!(outcomes[2].category(), "error: create_state_machine");
    }

    #[test]
    fn categories_from_differences() {
        use serde_json::json;
        let failed = vec![
            Difference {
                pointer: "/events/2/type".into(),
                expected: Some(json!("PassStateExited")),
                actual: Some(json!("ExecutionFailed")),
            },
            Difference {
                pointer: "/events/2/executionFailedEventDetails".into(),
                expected: None,
                actual: Some(
                    json!({"error": "States.Runtime", "cause": "An error occurred while executing the state 'S' (entered at the event id #2). Not supported"}),
                ),
            },
        ];
        assert_eq!(
            categorise(&failed, false),
            "unexpected ExecutionFailed: States.Runtime: Not supported"
        );
        let missing = vec![Difference {
            pointer: "/events/4/stateExitedEventDetails/assignedVariables".into(),
            expected: Some(json!({})),
            actual: None,
        }];
        assert_eq!(
            categorise(&missing, false),
            "diff: stateExitedEventDetails/assignedVariables missing"
        );
    }
}
