//! Scoring: a pure function of (transcript, compiled card). Every stage
//! outcome, penalty and error points at the words, speaker and second that
//! caused it.

use crate::card::{CompiledCard, SpeakerSpec, StageKind};
use crate::matcher::{Doc, Hit};
use crate::metrics::{self, MetricFinding, Metrics};
use crate::transcript::Transcript;
use crate::types::{Seconds, Speaker, StageId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const RESULT_SCHEMA: &str = "callqa.result/1";

/// Evidence kept per stage or violation; more hits are counted, not quoted.
const MAX_EVIDENCE: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    #[serde(rename = "passed")]
    Passed,
    #[serde(rename = "failed")]
    Failed,
    #[serde(rename = "n/a")]
    NotApplicable,
}

/// Words of the call that a rule matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub start: Seconds,
    pub end: Seconds,
    pub speaker: Speaker,
    /// The words as recognised.
    pub quote: String,
    /// The card phrase that matched, as written (shared with the card: a
    /// phrase can be a long list, and a batch keeps every call's evidence).
    pub phrase: Arc<str>,
    /// Index of the transcript segment the quote starts in.
    pub segment: usize,
    /// For reply stages: `trigger` or `answer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Exactly where the quote stands: one byte range per segment it spans.
    #[serde(default)]
    pub parts: Vec<QuotePart>,
}

/// A piece of a quote: bytes `start..end` of segment `segment`'s text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotePart {
    pub segment: usize,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    pub id: StageId,
    pub title: String,
    pub weight: f64,
    pub required: bool,
    pub outcome: Outcome,
    /// Why it failed or does not apply, in a QA lead's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationResult {
    pub id: StageId,
    pub title: String,
    pub critical: bool,
    pub hits: usize,
    /// Points taken off (after the cap).
    pub penalty: f64,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardRef {
    pub id: String,
    pub version: u32,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResult {
    pub schema: String,
    /// The recording (or transcript) this result is for.
    pub call: String,
    pub card: CardRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
    pub duration: Seconds,
    pub bucket: String,
    /// 0..100, one decimal.
    pub score: f64,
    /// A critical violation was heard.
    pub failed: bool,
    /// False on mono calls: rules with a speaker matched either party.
    pub speakers_verified: bool,
    pub stages: Vec<StageResult>,
    pub violations: Vec<ViolationResult>,
    pub metric_findings: Vec<MetricFinding>,
    pub metrics: Metrics,
    /// Everything wrong with the call, in plain language, in call order.
    pub errors: Vec<String>,
}

impl CallResult {
    pub fn stage(&self, id: &str) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.id.0 == id)
    }

    /// Stages passed, and stages that applied to this call.
    pub fn stages_passed(&self) -> (usize, usize) {
        let passed = self
            .stages
            .iter()
            .filter(|s| s.outcome == Outcome::Passed)
            .count();
        let applicable = self
            .stages
            .iter()
            .filter(|s| s.outcome != Outcome::NotApplicable)
            .count();
        (passed, applicable)
    }
}

struct Scorer<'a> {
    card: &'a CompiledCard,
    t: &'a Transcript,
    doc: Doc,
    /// Hits per phrase of the card's phrase table.
    by_phrase: Vec<Vec<Hit>>,
}

impl Scorer<'_> {
    fn start(&self, h: &Hit) -> Seconds {
        self.doc.words[h.first].start
    }

    fn end(&self, h: &Hit) -> Seconds {
        self.doc.words[h.last].end
    }

    fn speaker_ok(&self, h: &Hit, want: SpeakerSpec) -> bool {
        match (want, self.doc.words[h.first].speaker) {
            (SpeakerSpec::Any, _) | (_, Speaker::Unknown) => true,
            (SpeakerSpec::Agent, s) => s == Speaker::Agent,
            (SpeakerSpec::Customer, s) => s == Speaker::Customer,
        }
    }

    /// Hits of these phrases by this speaker, in call order.
    fn hits(&self, phrases: &[usize], speaker: SpeakerSpec) -> Vec<Hit> {
        let mut v: Vec<Hit> = phrases
            .iter()
            .flat_map(|&p| self.by_phrase[p].iter().copied())
            .filter(|h| self.speaker_ok(h, speaker))
            .collect();
        v.sort_by_key(|h| (h.first, h.phrase));
        v
    }

    fn evidence(&self, h: &Hit, role: Option<&str>) -> Evidence {
        let words = &self.doc.words[h.first..=h.last];
        let mut quote = String::new();
        let mut parts = Vec::new();
        for run in words.chunk_by(|a, b| a.segment == b.segment) {
            let part = QuotePart {
                segment: run[0].segment,
                start: run[0].bytes.0,
                end: run[run.len() - 1].bytes.1,
            };
            if !quote.is_empty() {
                quote.push(' ');
            }
            quote.push_str(&self.t.segments[part.segment].text[part.start..part.end]);
            parts.push(part);
        }
        Evidence {
            start: words[0].start,
            end: words[words.len() - 1].end,
            speaker: words[0].speaker,
            quote,
            phrase: self.card.phrases[h.phrase].clone(),
            segment: words[0].segment,
            role: role.map(str::to_string),
            parts,
        }
    }

    fn evidence_list(&self, hits: &[Hit], role: Option<&str>) -> Vec<Evidence> {
        hits.iter()
            .take(MAX_EVIDENCE)
            .map(|h| self.evidence(h, role))
            .collect()
    }
}

fn who(s: SpeakerSpec) -> &'static str {
    match s {
        SpeakerSpec::Agent => "the agent",
        SpeakerSpec::Customer => "the customer",
        SpeakerSpec::Any => "anyone",
    }
}

fn round1(x: f64) -> f64 {
    // `+ 0.0` turns a rounded -0.0 into 0.0, which reports print as "0".
    (x * 10.0).round() / 10.0 + 0.0
}

/// How many different `say` entries were heard, each at words no entry
/// counted before it used (`hits` in call order): «меня зовут Анна» is one
/// mention even when both «меня зовут *» and a list of names match it, so
/// `min_hits: 2` still means two things said.
fn distinct_mentions(hits: &[Hit]) -> usize {
    let mut phrases: Vec<usize> = Vec::new();
    let mut words: Vec<(usize, usize)> = Vec::new();
    for h in hits {
        let overlaps = words.iter().any(|&(f, l)| h.first <= l && f <= h.last);
        if !phrases.contains(&h.phrase) && !overlaps {
            phrases.push(h.phrase);
            words.push((h.first, h.last));
        }
    }
    phrases.len()
}

/// Checks one transcript against one card.
pub fn score(t: &Transcript, card: &CompiledCard) -> CallResult {
    let doc = card.matcher.doc(t);
    let mut by_phrase = vec![Vec::new(); card.phrases.len()];
    for h in card.matcher.find(&doc) {
        by_phrase[h.phrase].push(h);
    }
    let sc = Scorer {
        card,
        t,
        doc,
        by_phrase,
    };
    let duration = t.duration();
    let mut errors: Vec<(Seconds, String)> = Vec::new();

    // Hits that satisfy speaker, window and min_hits, before order rules.
    let mut heard: Vec<Vec<Hit>> = Vec::with_capacity(card.stages.len());
    for st in &card.stages {
        heard.push(match &st.kind {
            StageKind::Say {
                speaker,
                from_start,
                before_end,
                say,
                ..
            } => sc
                .hits(say, *speaker)
                .into_iter()
                .filter(|h| from_start.is_none_or(|w| sc.start(h).0 <= w.0))
                .filter(|h| before_end.is_none_or(|w| sc.start(h).0 >= duration.0 - w.0))
                .collect(),
            StageKind::Reply { .. } => Vec::new(),
        });
    }
    let first_heard: Vec<Option<Seconds>> = heard
        .iter()
        .map(|hs| hs.first().map(|h| sc.start(h)))
        .collect();

    let mut stages = Vec::with_capacity(card.stages.len());
    for (i, st) in card.stages.iter().enumerate() {
        let (outcome, reason, evidence) = match &st.kind {
            StageKind::Say {
                speaker,
                from_start,
                before_end,
                min_hits,
                say,
            } => {
                // Order: only hits after every earlier stage that was heard count.
                let not_before = st
                    .after
                    .iter()
                    .filter_map(|&k| first_heard[k])
                    .fold(None::<Seconds>, |a, b| {
                        Some(a.map_or(b, |a| if b.0 > a.0 { b } else { a }))
                    });
                let (in_order, early): (Vec<Hit>, Vec<Hit>) = heard[i]
                    .iter()
                    .partition(|h| not_before.is_none_or(|nb| sc.start(h).0 > nb.0));
                let distinct = distinct_mentions(&in_order);
                if !in_order.is_empty() && distinct >= *min_hits {
                    (Outcome::Passed, None, sc.evidence_list(&in_order, None))
                } else if !in_order.is_empty() {
                    (
                        Outcome::Failed,
                        Some(format!(
                            "only {distinct} of the {min_hits} distinct phrases needed"
                        )),
                        sc.evidence_list(&in_order, None),
                    )
                } else if !early.is_empty() {
                    let names: Vec<&str> = st
                        .after
                        .iter()
                        .filter(|&&k| first_heard[k].is_some())
                        .map(|&k| card.stages[k].title.as_str())
                        .collect();
                    (
                        Outcome::Failed,
                        Some(format!("out of order: heard before {}", names.join(", "))),
                        sc.evidence_list(&early, None),
                    )
                } else {
                    let anyone = sc.hits(say, SpeakerSpec::Any);
                    let window = match (from_start, before_end) {
                        (Some(f), _) => format!(" in the first {} s", f.0),
                        (None, Some(b)) => format!(" in the last {} s", b.0),
                        _ => String::new(),
                    };
                    let reason = if let Some(h) = anyone.first() {
                        let e = sc.evidence(h, None);
                        format!(
                            "not said by {}{window} (closest: {} said {:?} at {})",
                            who(*speaker),
                            e.speaker,
                            e.quote,
                            e.start
                        )
                    } else {
                        format!("not said by {}{window}", who(*speaker))
                    };
                    (Outcome::Failed, Some(reason), Vec::new())
                }
            }
            StageKind::Reply {
                when_speaker,
                when,
                then_speaker,
                within,
                then,
            } => {
                let triggers = sc.hits(when, *when_speaker);
                if triggers.is_empty() {
                    (
                        Outcome::NotApplicable,
                        Some("no trigger in the call".to_string()),
                        Vec::new(),
                    )
                } else {
                    let answers = sc.hits(then, *then_speaker);
                    let mut evidence = Vec::new();
                    let mut unanswered = Vec::new();
                    for tr in &triggers {
                        let answer = answers.iter().find(|a| {
                            sc.start(a).0 >= sc.start(tr).0
                                && sc.start(a).0 <= sc.end(tr).0 + within.0
                                && a.first > tr.last
                        });
                        if evidence.len() < 2 * MAX_EVIDENCE {
                            evidence.push(sc.evidence(tr, Some("trigger")));
                        }
                        match answer {
                            Some(a) if evidence.len() < 2 * MAX_EVIDENCE => {
                                evidence.push(sc.evidence(a, Some("answer")))
                            }
                            Some(_) => {}
                            None => unanswered.push(sc.evidence(tr, None)),
                        }
                    }
                    if unanswered.is_empty() {
                        (Outcome::Passed, None, evidence)
                    } else {
                        let first = &unanswered[0];
                        (
                            Outcome::Failed,
                            Some(format!(
                                "{} of {} unanswered within {} s, first {:?} at {}",
                                unanswered.len(),
                                triggers.len(),
                                within.0,
                                first.quote,
                                first.start
                            )),
                            evidence,
                        )
                    }
                }
            }
        };
        if outcome == Outcome::Failed
            && (st.required
                || reason
                    .as_deref()
                    .is_some_and(|r| !r.starts_with("not said")))
        {
            let at = evidence.first().map_or(Seconds(0.0), |e| e.start);
            errors.push((
                at,
                format!("{}: {}", st.title, reason.clone().unwrap_or_default()),
            ));
        }
        stages.push(StageResult {
            id: st.id.clone(),
            title: st.title.clone(),
            weight: st.weight,
            required: st.required,
            outcome,
            reason,
            evidence,
        });
    }

    let mut violations = Vec::new();
    let mut failed = false;
    let mut penalties = 0.0;
    for v in &card.violations {
        let excused = sc.hits(&v.except, SpeakerSpec::Any);
        let hits: Vec<Hit> = sc
            .hits(&v.say, v.speaker)
            .into_iter()
            .filter(|h| {
                !excused
                    .iter()
                    .any(|e| e.first <= h.last && h.first <= e.last)
            })
            .collect();
        if hits.is_empty() {
            continue;
        }
        let raw = v.penalty * hits.len() as f64;
        let penalty = v.max_penalty.map_or(raw, |m| raw.min(m));
        failed |= v.critical;
        penalties += penalty;
        let evidence = sc.evidence_list(&hits, None);
        let e = &evidence[0];
        errors.push((
            e.start,
            format!(
                "{}{}: {:?} at {}{}",
                v.title,
                if v.critical { " (critical)" } else { "" },
                e.quote,
                e.start,
                if hits.len() > 1 {
                    format!(" and {} more", hits.len() - 1)
                } else {
                    String::new()
                }
            ),
        ));
        violations.push(ViolationResult {
            id: v.id.clone(),
            title: v.title.clone(),
            critical: v.critical,
            hits: hits.len(),
            penalty,
            evidence,
        });
    }

    let metrics = metrics::compute_counted(t, &sc.doc.words_per_segment(t.segments.len()));
    let metric_findings = metrics::check(&metrics, &card.metrics);
    for f in &metric_findings {
        failed |= f.critical;
        penalties += f.penalty;
        errors.push((
            f.evidence.map_or(Seconds(0.0), |s| s.start),
            f.message.clone(),
        ));
    }

    let applicable: f64 = stages
        .iter()
        .filter(|s| s.outcome != Outcome::NotApplicable)
        .map(|s| s.weight)
        .sum();
    let passed: f64 = stages
        .iter()
        .filter(|s| s.outcome == Outcome::Passed)
        .map(|s| s.weight)
        .sum();
    let base = if applicable > 0.0 {
        passed / applicable * 100.0
    } else {
        100.0
    };
    let score = if failed {
        0.0
    } else {
        round1((base - penalties).clamp(0.0, 100.0))
    };
    errors.sort_by(|a, b| a.0 .0.total_cmp(&b.0 .0));

    CallResult {
        schema: RESULT_SCHEMA.to_string(),
        call: t.source.path.clone(),
        card: CardRef {
            id: card.id.clone(),
            version: card.version,
            title: card.title.clone(),
        },
        model_sha256: t.recognition.as_ref().map(|r| r.model_sha256.clone()),
        duration,
        bucket: card.bucket_for(duration).to_string(),
        score,
        failed,
        speakers_verified: t.speakers_known(),
        stages,
        violations,
        metric_findings,
        metrics,
        errors: errors.into_iter().map(|(_, e)| e).collect(),
    }
}
