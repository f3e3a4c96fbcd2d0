//! Regression on sample calls: compare results with stored expectations and
//! say exactly what drifted, so CI fails when a card or the model changes
//! how a call is judged.

use crate::score::{CallResult, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `samples/expected.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The card the expectations were written for (informative).
    pub card: String,
    pub calls: BTreeMap<String, Expected>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub bucket: String,
    /// Inclusive score band `[low, high]`: recognition varies a little.
    pub score: [f64; 2],
    pub failed: bool,
    pub stages: BTreeMap<String, Outcome>,
    /// Ids of the violations heard.
    #[serde(default)]
    pub violations: Vec<String>,
}

/// Half-width of the score band `--update` writes.
pub const BAND: f64 = 5.0;

impl Expected {
    pub fn from_result(r: &CallResult) -> Expected {
        Expected {
            bucket: r.bucket.clone(),
            score: [(r.score - BAND).max(0.0), (r.score + BAND).min(100.0)],
            failed: r.failed,
            stages: r
                .stages
                .iter()
                .map(|s| (s.id.0.clone(), s.outcome))
                .collect(),
            violations: r.violations.iter().map(|v| v.id.0.clone()).collect(),
        }
    }
}

fn outcome(o: Option<&Outcome>) -> &'static str {
    match o {
        Some(Outcome::Passed) => "passed",
        Some(Outcome::Failed) => "failed",
        Some(Outcome::NotApplicable) => "n/a",
        None => "absent",
    }
}

/// Differences between what was expected and what was found, one line each.
pub fn diff(expected: &Expected, got: &CallResult) -> Vec<String> {
    let mut out = Vec::new();
    if expected.bucket != got.bucket {
        out.push(format!(
            "bucket: expected {}, got {}",
            expected.bucket, got.bucket
        ));
    }
    let [lo, hi] = expected.score;
    if got.score < lo || got.score > hi {
        out.push(format!("score: expected {lo}..{hi}, got {}", got.score));
    }
    if expected.failed != got.failed {
        out.push(format!(
            "failed: expected {}, got {}",
            expected.failed, got.failed
        ));
    }
    let got_stages: BTreeMap<String, Outcome> = got
        .stages
        .iter()
        .map(|s| (s.id.0.clone(), s.outcome))
        .collect();
    let ids: std::collections::BTreeSet<&String> =
        expected.stages.keys().chain(got_stages.keys()).collect();
    for id in ids {
        let (e, g) = (expected.stages.get(id), got_stages.get(id));
        if e != g {
            let why = got
                .stage(id)
                .and_then(|s| s.reason.clone())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            out.push(format!(
                "stage {id}: expected {}, got {}{why}",
                outcome(e),
                outcome(g)
            ));
        }
    }
    let got_v: Vec<String> = got.violations.iter().map(|v| v.id.0.clone()).collect();
    for v in &expected.violations {
        if !got_v.contains(v) {
            out.push(format!("violation {v}: expected, not heard"));
        }
    }
    for v in &got.violations {
        if !expected.violations.contains(&v.id.0) {
            let e = v
                .evidence
                .first()
                .map(|e| format!(" ({:?} at {})", e.quote, e.start))
                .unwrap_or_default();
            out.push(format!("violation {}: heard, not expected{e}", v.id));
        }
    }
    out
}

/// The outcome of a regression run.
#[derive(Debug, Default)]
pub struct Report {
    /// Per call with drift: the call name and its difference lines.
    pub drifted: Vec<(String, Vec<String>)>,
    pub matched: usize,
    /// Calls scored but absent from the expectations.
    pub unexpected: Vec<String>,
    /// Calls expected but not scored (missing or failed input).
    pub missing: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.drifted.is_empty() && self.unexpected.is_empty() && self.missing.is_empty()
    }
}

pub fn compare(exp: &Expectations, results: &[CallResult]) -> Report {
    let mut r = Report::default();
    for res in results {
        match exp.calls.get(&res.call) {
            None => r.unexpected.push(res.call.clone()),
            Some(e) => {
                let d = diff(e, res);
                if d.is_empty() {
                    r.matched += 1;
                } else {
                    r.drifted.push((res.call.clone(), d));
                }
            }
        }
    }
    for name in exp.calls.keys() {
        if !results.iter().any(|x| &x.call == name) {
            r.missing.push(name.clone());
        }
    }
    r
}
