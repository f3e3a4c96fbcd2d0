//! The batch at a glance: counts, score distribution, stage pass rates, the
//! most frequent errors, and call and conversation-metric averages per
//! bucket and per agent.

use super::{CallEntry, GoldenEntry};
use crate::batch::Failure;
use crate::score::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Averages of conversation metrics over a group of calls. Each average is
/// over the calls where the metric is known (per-party metrics need stereo);
/// `None` when no call in the group has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricAverages {
    /// Calls whose speakers are known (stereo): the per-party averages are over these.
    pub calls_with_speakers: usize,
    pub agent_talk_share: Option<f64>,
    pub customer_talk_share: Option<f64>,
    pub silence_share: Option<f64>,
    /// Seconds; the longest gap in each call that has one.
    pub longest_silence_s: Option<f64>,
    /// Overtalks per call.
    pub overtalks: Option<f64>,
    pub interruptions_by_agent: Option<f64>,
    pub interruptions_by_customer: Option<f64>,
    pub speech_rate_wpm: Option<f64>,
    pub agent_speech_rate_wpm: Option<f64>,
    pub longest_agent_monologue_s: Option<f64>,
    pub time_to_first_agent_word_s: Option<f64>,
}

/// The stage a group passes least often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeakStage {
    pub id: String,
    pub title: String,
    /// Passed ÷ applicable, 0..1.
    pub pass_rate: f64,
}

/// Calls of one bucket or one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// The bucket's or agent's name.
    pub name: String,
    pub calls: usize,
    pub mean_score: f64,
    pub min_score: f64,
    pub max_score: f64,
    /// Calls failed by a critical violation or metric rule.
    pub critical_failures: usize,
    /// Calls in the golden fund.
    pub golden: usize,
    /// Seconds of calls in all.
    pub total_duration_s: f64,
    pub metrics: MetricAverages,
    pub weakest_stage: Option<WeakStage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    pub id: String,
    pub title: String,
    pub required: bool,
    pub passed: usize,
    pub failed: usize,
    pub not_applicable: usize,
    /// Passed ÷ (passed + failed), 0..1; `None` when it never applied.
    pub pass_rate: Option<f64>,
}

/// One kind of error and how often it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// `stage:<id>`, `violation:<id>` or `metric:<id>`; the index filters calls by it.
    pub key: String,
    /// `stage` (not passed), `violation` or `metric` (a metric rule broken).
    pub kind: String,
    pub id: String,
    pub title: String,
    /// Calls with this error.
    pub calls: usize,
    /// Times heard in all (violations: phrase hits; otherwise = calls).
    pub hits: usize,
    /// It fails a call outright.
    pub critical: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub calls: usize,
    pub failed_inputs: usize,
    pub critical_failures: usize,
    pub golden: usize,
    /// `None` with no calls.
    pub mean_score: Option<f64>,
    /// Calls per score band: [0, 10), [10, 20), … [90, 100].
    pub score_histogram: Vec<usize>,
    /// Shortest bucket first.
    pub buckets: Vec<GroupSummary>,
    /// Agents known from call metadata, by name.
    pub agents: Vec<GroupSummary>,
    /// Calls whose agent is not known.
    pub calls_without_agent: usize,
    /// Card order.
    pub stages: Vec<StageSummary>,
    /// Most calls first.
    pub errors: Vec<ErrorSummary>,
    /// Over all calls.
    pub metrics: MetricAverages,
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k + 0.0
}

fn mean(xs: impl Iterator<Item = f64>, places: i32) -> Option<f64> {
    let (mut n, mut sum) = (0usize, 0.0);
    for x in xs.filter(|x| x.is_finite()) {
        n += 1;
        sum += x;
    }
    (n > 0).then(|| round(sum / n as f64, places))
}

pub fn metric_averages(calls: &[&CallEntry]) -> MetricAverages {
    let ms: Vec<&crate::metrics::Metrics> = calls.iter().map(|c| &c.result.metrics).collect();
    let stereo: Vec<&&crate::metrics::Metrics> = ms.iter().filter(|m| !m.estimated).collect();
    let count = |f: fn(&crate::metrics::Metrics) -> Option<usize>| {
        mean(stereo.iter().filter_map(|m| f(m)).map(|n| n as f64), 2)
    };
    MetricAverages {
        calls_with_speakers: stereo.len(),
        agent_talk_share: mean(ms.iter().filter_map(|m| m.agent_talk_share), 3),
        customer_talk_share: mean(ms.iter().filter_map(|m| m.customer_talk_share), 3),
        silence_share: mean(ms.iter().map(|m| m.silence_share), 3),
        longest_silence_s: mean(
            ms.iter()
                .filter_map(|m| m.longest_silence)
                .map(|s| s.len().0),
            1,
        ),
        overtalks: count(|m| m.overtalk_count),
        interruptions_by_agent: count(|m| m.interruptions_by_agent),
        interruptions_by_customer: count(|m| m.interruptions_by_customer),
        speech_rate_wpm: mean(ms.iter().filter_map(|m| m.speech_rate_wpm), 1),
        agent_speech_rate_wpm: mean(ms.iter().filter_map(|m| m.agent_speech_rate_wpm), 1),
        longest_agent_monologue_s: mean(
            ms.iter()
                .filter_map(|m| m.longest_agent_monologue)
                .map(|s| s.len().0),
            1,
        ),
        time_to_first_agent_word_s: mean(
            ms.iter()
                .filter_map(|m| m.time_to_first_agent_word)
                .map(|s| s.0),
            1,
        ),
    }
}

fn group(name: String, calls: &[&CallEntry]) -> GroupSummary {
    let scores: Vec<f64> = calls.iter().map(|c| c.result.score).collect();
    let mut stages: Vec<(String, String, usize, usize)> = Vec::new();
    for c in calls {
        for s in &c.result.stages {
            if s.outcome == Outcome::NotApplicable {
                continue;
            }
            let i = match stages.iter().position(|x| x.0 == s.id.0) {
                Some(i) => i,
                None => {
                    stages.push((s.id.0.clone(), s.title.clone(), 0, 0));
                    stages.len() - 1
                }
            };
            stages[i].3 += 1;
            if s.outcome == Outcome::Passed {
                stages[i].2 += 1;
            }
        }
    }
    let weakest_stage = stages
        .iter()
        .map(|(id, title, p, a)| (id, title, *p as f64 / *a as f64))
        .filter(|s| s.2 < 1.0)
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(id, title, r)| WeakStage {
            id: id.clone(),
            title: title.clone(),
            pass_rate: round(r, 3),
        });
    GroupSummary {
        name,
        calls: calls.len(),
        mean_score: mean(scores.iter().copied(), 1).unwrap_or(0.0),
        min_score: scores
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(100.0)
            + 0.0,
        max_score: scores.iter().copied().fold(0.0, f64::max),
        critical_failures: calls.iter().filter(|c| c.result.failed).count(),
        golden: calls.iter().filter(|c| c.golden).count(),
        total_duration_s: round(calls.iter().map(|c| c.result.duration.0).sum(), 1),
        metrics: metric_averages(calls),
        weakest_stage,
    }
}

/// Plain-language names of the card's metric rules.
pub fn metric_rule_title(id: &str) -> &str {
    match id {
        "max_silence" => "Long silence",
        "agent_talk_share" => "Agent talk share out of range",
        "max_monologue" => "Agent monologue too long",
        "interruptions" => "Too many interruptions",
        "speech_rate" => "Agent speech rate out of range",
        "first_word" => "Agent slow to speak first",
        other => other,
    }
}

pub fn summarise(calls: &[CallEntry], failures: &[Failure], golden: &[GoldenEntry]) -> Summary {
    let all: Vec<&CallEntry> = calls.iter().collect();
    let mut histogram = vec![0usize; 10];
    for c in calls {
        let bin = ((c.result.score.max(0.0) / 10.0).floor() as usize).min(9);
        histogram[bin] += 1;
    }

    // Buckets, shortest first (buckets are ranges of call length).
    let mut buckets: Vec<(String, f64, Vec<&CallEntry>)> = Vec::new();
    for c in calls {
        match buckets.iter_mut().find(|b| b.0 == c.result.bucket) {
            Some(b) => {
                b.1 = b.1.min(c.result.duration.0);
                b.2.push(c);
            }
            None => buckets.push((c.result.bucket.clone(), c.result.duration.0, vec![c])),
        }
    }
    buckets.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));

    let mut agents: BTreeMap<String, Vec<&CallEntry>> = BTreeMap::new();
    for c in calls {
        if let Some(a) = &c.meta.agent {
            agents.entry(a.clone()).or_default().push(c);
        }
    }

    let mut stages: Vec<StageSummary> = Vec::new();
    for c in calls {
        for s in &c.result.stages {
            let i = match stages.iter().position(|x| x.id == s.id.0) {
                Some(i) => i,
                None => {
                    stages.push(StageSummary {
                        id: s.id.0.clone(),
                        title: s.title.clone(),
                        required: s.required,
                        passed: 0,
                        failed: 0,
                        not_applicable: 0,
                        pass_rate: None,
                    });
                    stages.len() - 1
                }
            };
            match s.outcome {
                Outcome::Passed => stages[i].passed += 1,
                Outcome::Failed => stages[i].failed += 1,
                Outcome::NotApplicable => stages[i].not_applicable += 1,
            }
        }
    }
    for s in &mut stages {
        let applicable = s.passed + s.failed;
        s.pass_rate = (applicable > 0).then(|| round(s.passed as f64 / applicable as f64, 3));
    }

    let mut errors: Vec<ErrorSummary> = Vec::new();
    let mut add = |kind: &str, id: &str, title: &str, hits: usize, critical: bool| {
        let key = format!("{kind}:{id}");
        match errors.iter_mut().find(|e| e.key == key) {
            Some(e) => {
                e.calls += 1;
                e.hits += hits;
                e.critical |= critical;
            }
            None => errors.push(ErrorSummary {
                key,
                kind: kind.into(),
                id: id.into(),
                title: title.into(),
                calls: 1,
                hits,
                critical,
            }),
        }
    };
    for c in calls {
        for s in c
            .result
            .stages
            .iter()
            .filter(|s| s.outcome == Outcome::Failed)
        {
            add("stage", &s.id.0, &s.title, 1, false);
        }
        for v in &c.result.violations {
            add("violation", &v.id.0, &v.title, v.hits, v.critical);
        }
        for f in &c.result.metric_findings {
            add("metric", &f.id, metric_rule_title(&f.id), 1, f.critical);
        }
    }
    errors.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then(b.hits.cmp(&a.hits))
            .then(a.key.cmp(&b.key))
    });

    Summary {
        calls: calls.len(),
        failed_inputs: failures.len(),
        critical_failures: calls.iter().filter(|c| c.result.failed).count(),
        golden: golden.len(),
        mean_score: mean(calls.iter().map(|c| c.result.score), 1),
        score_histogram: histogram,
        buckets: buckets
            .into_iter()
            .map(|(name, _, cs)| group(name, &cs))
            .collect(),
        agents: agents
            .into_iter()
            .map(|(name, cs)| group(name, &cs))
            .collect(),
        calls_without_agent: calls.iter().filter(|c| c.meta.agent.is_none()).count(),
        stages,
        errors,
        metrics: metric_averages(&all),
    }
}
