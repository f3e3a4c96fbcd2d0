//! Conversation metrics: who talked how much, silences, overtalk and
//! interruptions, agent speech rate and monologues, computed from speech
//! regions and segment text alone (no audio, no model), plus card rules that
//! turn them into penalised findings like phrase violations.
//!
//! Conventions a QA lead can rely on:
//! - Call duration is the recording's duration, stretched to the end of the
//!   last speech if the recorded duration is missing or shorter.
//! - Silences (`longest_silence`, `silences_over`, the `max_silence` rule) are
//!   only gaps *between* speech: the lead-in before the first word (ringing,
//!   IVR, recording start) and the tail after the last word (hang-up) are not
//!   dead air the agent is responsible for. `silence_share` does count the
//!   whole call, so on stereo agent share + customer share + silence share
//!   − the share both talk at once adds up to 1.
//! - On mono calls (`estimated`) nothing that needs to know who spoke is
//!   reported, and rules about a party are skipped rather than guessed.

use crate::transcript::Transcript;
use crate::types::{Seconds, Span, Speaker};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Gaps in all speech at least this long are listed in `silences_over`.
pub const SILENCE_MIN: f64 = 3.0;
/// Both parties must talk at once for longer than this to count as overtalk,
/// so backchannels ("uh-huh") and turn-taking jitter are not interruptions.
pub const OVERTALK_MIN: f64 = 1.0;
/// Agent pauses shorter than this (with the customer silent) do not end a monologue.
pub const MONOLOGUE_GAP: f64 = 2.0;
/// Pauses shorter than this are breaths inside one turn, not a new turn: who
/// interrupted is judged by turn starts, so a customer who cuts in during the
/// agent's breath is still the interrupter.
pub const TURN_GAP: f64 = 0.5;
/// Turns starting closer together than this began at the same time: nobody
/// can react to the other that fast, so neither interrupted.
pub const SIMULTANEOUS_START: f64 = 0.2;
/// Penalty of a metric rule that does not set one.
pub const DEFAULT_PENALTY: f64 = 5.0;

/// Both parties talking at once for longer than [`OVERTALK_MIN`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overtalk {
    pub span: Span,
    /// The party who started talking while the other was mid-turn (the
    /// interrupter); `unknown` when both started together.
    pub started_by: Speaker,
}

/// Conversation metrics of one call.
///
/// When `estimated` is true (mono: speakers unknown) every per-party field is
/// `None` (or empty). What stays honest on mono: `duration`, `speech_time`,
/// `silence_time`, `silence_share`, `longest_silence`, `silences_over` and
/// `speech_rate_wpm` (all speech together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Speakers are unknown (mono), so per-party numbers are not reported.
    pub estimated: bool,
    /// Call length used for shares.
    pub duration: Seconds,
    /// Time anyone is speaking (overtalk counted once).
    pub speech_time: Seconds,
    pub agent_talk_time: Option<Seconds>,
    pub customer_talk_time: Option<Seconds>,
    /// Agent talk time ÷ call duration (0..1).
    pub agent_talk_share: Option<f64>,
    pub customer_talk_share: Option<f64>,
    /// Time no one is speaking, including lead-in and tail.
    pub silence_time: Seconds,
    /// `silence_time` ÷ call duration (0..1).
    pub silence_share: f64,
    /// Longest gap between speech (lead-in and tail excluded).
    pub longest_silence: Option<Span>,
    /// Gaps between speech of at least [`SILENCE_MIN`] seconds, in call order.
    pub silences_over: Vec<Span>,
    pub overtalk_count: Option<usize>,
    pub overtalks: Vec<Overtalk>,
    /// Overtalks the agent started.
    pub interruptions_by_agent: Option<usize>,
    /// Overtalks the customer started.
    pub interruptions_by_customer: Option<usize>,
    /// All recognised words ÷ minutes of speech (either party).
    pub speech_rate_wpm: Option<f64>,
    /// Agent words ÷ agent talk minutes; `None` if the agent has no talk time or no words.
    pub agent_speech_rate_wpm: Option<f64>,
    /// Agent rate in each minute of call time (`[0, 60)`, `[60, 120)`, …);
    /// `None` where the agent does not speak. Empty when `estimated`.
    pub agent_speech_rate_per_minute: Vec<Option<f64>>,
    /// Longest agent-only stretch; agent pauses under [`MONOLOGUE_GAP`] are
    /// bridged, any customer speech (even a backchannel) ends it.
    pub longest_agent_monologue: Option<Span>,
    /// From the start of the recording to the agent's first recognised word;
    /// `None` if the agent never says one.
    pub time_to_first_agent_word: Option<Seconds>,
}

/// Half-open interval `[start, end)` in seconds, for the arithmetic.
type Iv = (f64, f64);

pub fn compute(t: &Transcript) -> Metrics {
    let words: Vec<usize> = t
        .segments
        .iter()
        .map(|s| crate::text::count_words(&s.text))
        .collect();
    compute_counted(t, &words)
}

/// [`compute`] with each segment's word count already known (`words[i]` for
/// segment `i`), as scoring knows it from matching.
pub fn compute_counted(t: &Transcript, words: &[usize]) -> Metrics {
    // Segments are a fallback timeline only: Whisper spans include pauses,
    // detector regions do not.
    let raw: Vec<(Speaker, Iv)> = if t.regions.is_empty() {
        t.segments
            .iter()
            .map(|s| (s.speaker, (s.start.0, s.end.0)))
            .collect()
    } else {
        t.regions
            .iter()
            .map(|r| (r.speaker, (r.span.start.0, r.span.end.0)))
            .collect()
    };
    let raw: Vec<(Speaker, Iv)> = raw
        .into_iter()
        .filter_map(|(sp, iv)| clean(iv).map(|iv| (sp, iv)))
        .collect();
    let of = |want: Option<Speaker>| {
        merge(
            raw.iter()
                .filter(|(sp, _)| want.is_none_or(|w| *sp == w))
                .map(|&(_, iv)| iv)
                .collect(),
        )
    };
    let all = of(None);
    let agent = of(Some(Speaker::Agent));
    let customer = of(Some(Speaker::Customer));
    // Unlabelled speech means mono. With no speech at all only the channel
    // count can tell: a silent stereo call still knows both parties were silent.
    let estimated =
        agent.is_empty() && customer.is_empty() && (!all.is_empty() || t.source.channels < 2);

    let segments: Vec<(Speaker, Iv, f64)> = t
        .segments
        .iter()
        .zip(words)
        .filter_map(|(s, &words)| {
            let iv = clean((s.start.0, s.end.0)).or_else(|| {
                // A zero-length segment still carries words at its start.
                let p = s.start.0;
                (p.is_finite() && s.end.0 == p).then_some((p.max(0.0), p.max(0.0)))
            })?;
            Some((s.speaker, iv, words as f64))
        })
        .collect();

    let recorded = t.source.duration.0;
    let recorded = if recorded.is_finite() {
        recorded.max(0.0)
    } else {
        0.0
    };
    let duration = all
        .last()
        .map(|iv| iv.1)
        .into_iter()
        .chain(segments.iter().map(|s| s.1 .1))
        .fold(recorded, f64::max);

    let speech_time = total(&all);
    let silence_time = (duration - speech_time).max(0.0);
    let gaps = inner_gaps(&all);
    let longest_silence = longest(&gaps);
    let silences_over = gaps
        .iter()
        .filter(|g| g.1 - g.0 >= SILENCE_MIN)
        .map(|&g| span(g))
        .collect();

    let all_words: f64 = segments.iter().map(|s| s.2).sum();
    let speech_rate_wpm = rate(all_words, speech_time);

    let mut m = Metrics {
        estimated,
        duration: Seconds(duration),
        speech_time: Seconds(speech_time),
        agent_talk_time: None,
        customer_talk_time: None,
        agent_talk_share: None,
        customer_talk_share: None,
        silence_time: Seconds(silence_time),
        silence_share: ratio(silence_time, duration),
        longest_silence,
        silences_over,
        overtalk_count: None,
        overtalks: Vec::new(),
        interruptions_by_agent: None,
        interruptions_by_customer: None,
        speech_rate_wpm,
        agent_speech_rate_wpm: None,
        agent_speech_rate_per_minute: Vec::new(),
        longest_agent_monologue: None,
        time_to_first_agent_word: None,
    };
    if estimated {
        return m;
    }

    let agent_time = total(&agent);
    let customer_time = total(&customer);
    m.agent_talk_time = Some(Seconds(agent_time));
    m.customer_talk_time = Some(Seconds(customer_time));
    m.agent_talk_share = Some(ratio(agent_time, duration));
    m.customer_talk_share = Some(ratio(customer_time, duration));

    m.overtalks = overtalks(&agent, &customer);
    let by = |who| m.overtalks.iter().filter(|o| o.started_by == who).count();
    m.overtalk_count = Some(m.overtalks.len());
    m.interruptions_by_agent = Some(by(Speaker::Agent));
    m.interruptions_by_customer = Some(by(Speaker::Customer));

    let agent_segments: Vec<(Iv, f64)> = segments
        .iter()
        .filter(|s| s.0 == Speaker::Agent)
        .map(|s| (s.1, s.2))
        .collect();
    let agent_words: f64 = agent_segments.iter().map(|s| s.1).sum();
    m.agent_speech_rate_wpm = rate(agent_words, agent_time);
    m.agent_speech_rate_per_minute = per_minute_rate(&agent_segments, &agent, duration);
    m.longest_agent_monologue = longest(&monologues(&agent, &customer));
    m.time_to_first_agent_word = first_word(&agent_segments, &agent).map(Seconds);
    m
}

/// Drops non-finite and empty spans, clamps negative starts to the call start.
fn clean((s, e): Iv) -> Option<Iv> {
    // Checked before clamping: `f64::max` would turn a NaN start into 0.
    let ok = s.is_finite() && e.is_finite();
    let s = s.max(0.0);
    (ok && e > s).then_some((s, e))
}

fn span((s, e): Iv) -> Span {
    Span::new(s, e)
}

/// Sorted, non-overlapping, non-touching union.
fn merge(mut v: Vec<Iv>) -> Vec<Iv> {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    bridge(v, 0.0)
}

/// Joins sorted intervals whose gap is below `gap` (touching ones always).
fn bridge(v: Vec<Iv>, gap: f64) -> Vec<Iv> {
    let mut out: Vec<Iv> = Vec::with_capacity(v.len());
    for iv in v {
        match out.last_mut() {
            Some(last) if iv.0 - last.1 < gap || iv.0 <= last.1 => last.1 = last.1.max(iv.1),
            _ => out.push(iv),
        }
    }
    out
}

fn total(v: &[Iv]) -> f64 {
    v.iter().map(|iv| iv.1 - iv.0).sum()
}

fn inner_gaps(v: &[Iv]) -> Vec<Iv> {
    v.windows(2).map(|w| (w[0].1, w[1].0)).collect()
}

/// First of the longest, so ties point at the earliest evidence.
fn longest(v: &[Iv]) -> Option<Span> {
    v.iter()
        .fold(None::<Iv>, |best, &iv| match best {
            Some(b) if b.1 - b.0 >= iv.1 - iv.0 => Some(b),
            _ => Some(iv),
        })
        .map(span)
}

fn intersect(a: &[Iv], b: &[Iv]) -> Vec<Iv> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (s, e) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if e > s {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// `a` minus `b`, both merged.
fn subtract(a: &[Iv], b: &[Iv]) -> Vec<Iv> {
    let mut out = Vec::new();
    for &(s, e) in a {
        let mut cur = s;
        for &(bs, be) in b.iter().filter(|x| x.1 > s && x.0 < e) {
            if bs > cur {
                out.push((cur, bs));
            }
            cur = cur.max(be);
        }
        if e > cur {
            out.push((cur, e));
        }
    }
    out
}

/// How much of `v` falls inside `[s, e)`.
fn overlap(v: &[Iv], s: f64, e: f64) -> f64 {
    v.iter()
        .map(|iv| (iv.1.min(e) - iv.0.max(s)).max(0.0))
        .sum()
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Words per minute; `None` rather than 0 when no words were recognised, so a
/// recognition failure does not read as a slow speaker.
fn rate(words: f64, seconds: f64) -> Option<f64> {
    (words > 0.0 && seconds > 0.0).then(|| words * 60.0 / seconds)
}

fn overtalks(agent: &[Iv], customer: &[Iv]) -> Vec<Overtalk> {
    let agent_turns = bridge(agent.to_vec(), TURN_GAP);
    let customer_turns = bridge(customer.to_vec(), TURN_GAP);
    let turn_start = |turns: &[Iv], t: f64| {
        turns
            .iter()
            .find(|iv| iv.0 <= t && t < iv.1)
            .map_or(t, |iv| iv.0)
    };
    intersect(agent, customer)
        .into_iter()
        .filter(|iv| iv.1 - iv.0 > OVERTALK_MIN)
        .map(|iv| {
            let a = turn_start(&agent_turns, iv.0);
            let c = turn_start(&customer_turns, iv.0);
            let started_by = if (a - c).abs() < SIMULTANEOUS_START {
                Speaker::Unknown
            } else if a > c {
                Speaker::Agent
            } else {
                Speaker::Customer
            };
            Overtalk {
                span: span(iv),
                started_by,
            }
        })
        .collect()
}

fn monologues(agent: &[Iv], customer: &[Iv]) -> Vec<Iv> {
    let mut out: Vec<Iv> = Vec::new();
    for iv in subtract(agent, customer) {
        match out.last_mut() {
            Some(last)
                if iv.0 - last.1 < MONOLOGUE_GAP && overlap(customer, last.1, iv.0) == 0.0 =>
            {
                last.1 = iv.1
            }
            _ => out.push(iv),
        }
    }
    out
}

/// Spreads each segment's words over where the agent actually speaks inside
/// it (falling back to the segment span), so a segment that opens with a long
/// pause does not pile its words onto a minute with little talk.
fn per_minute_rate(segments: &[(Iv, f64)], agent: &[Iv], duration: f64) -> Vec<Option<f64>> {
    let minutes = (duration / 60.0).ceil() as usize;
    let minute = |i: usize| (i as f64 * 60.0, (i + 1) as f64 * 60.0);
    let index = |t: f64| ((t / 60.0).floor().max(0.0) as usize).min(minutes.saturating_sub(1));
    let mut words = vec![0.0; minutes];
    let spread = |pieces: &[Iv], w: f64, words: &mut [f64]| {
        let len = total(pieces);
        for &(s, e) in pieces {
            for (i, slot) in words
                .iter_mut()
                .enumerate()
                .take(index(e) + 1)
                .skip(index(s))
            {
                let (ms, me) = minute(i);
                *slot += w * (e.min(me) - s.max(ms)).max(0.0) / len;
            }
        }
    };
    for &((s, e), w) in segments.iter().filter(|s| s.1 > 0.0 && minutes > 0) {
        let inside = intersect(agent, &[(s, e)]);
        if !inside.is_empty() {
            spread(&inside, w, &mut words);
        } else if e > s {
            spread(&[(s, e)], w, &mut words);
        } else {
            words[index(s)] += w;
        }
    }
    words
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let (ms, me) = minute(i);
            rate(w, overlap(agent, ms, me))
        })
        .collect()
}

/// Start of the first agent segment with a word, moved to where the agent's
/// speech inside it begins: Whisper often opens a segment before the voice.
fn first_word(segments: &[(Iv, f64)], agent: &[Iv]) -> Option<f64> {
    let &((s, e), _) = segments
        .iter()
        .filter(|seg| seg.1 > 0.0)
        .min_by(|a, b| a.0 .0.total_cmp(&b.0 .0))?;
    let voice = agent.iter().find(|iv| iv.1 > s && iv.0 <= e.max(s));
    Some(voice.map_or(s, |iv| iv.0.max(s)))
}

// ---------------------------------------------------------------------------
// Card rules

/// Metric rules of a card (`metrics:` in the YAML). Rules about a party
/// (everything except `max_silence`) are skipped on mono calls, where who
/// spoke is unknown: no finding, no penalty.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricRules {
    /// Longest silence between speech, seconds. `max_silence: 15` or
    /// `{max: 15, penalty: 5, critical: false}`.
    pub max_silence: Option<Limit>,
    /// Agent talk time ÷ call duration, 0..1: `{max: 0.7}` and/or `{min: 0.2}`.
    pub agent_talk_share: Option<Limit>,
    /// Longest agent monologue, seconds.
    pub max_monologue: Option<Limit>,
    /// Number of times the agent interrupted the customer: `{max: 2}`.
    pub interruptions: Option<Limit>,
    /// Agent words per minute over the whole call: `{min: 110, max: 190}`.
    pub speech_rate: Option<Limit>,
    /// Seconds from the start of the recording to the agent's first word.
    pub first_word: Option<Limit>,
}

/// Bounds of one metric rule. A bare number in YAML means `max`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limit {
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Points off when the rule is broken.
    pub penalty: f64,
    /// Broken ⇒ the call fails (score 0).
    pub critical: bool,
}

impl Limit {
    pub fn at_most(max: f64) -> Self {
        Limit {
            min: None,
            max: Some(max),
            penalty: DEFAULT_PENALTY,
            critical: false,
        }
    }

    pub fn at_least(min: f64) -> Self {
        Limit {
            min: Some(min),
            max: None,
            penalty: DEFAULT_PENALTY,
            critical: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitMap {
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default = "default_penalty")]
    penalty: f64,
    #[serde(default)]
    critical: bool,
}

fn default_penalty() -> f64 {
    DEFAULT_PENALTY
}

// A visitor rather than an untagged enum: untagged would replace "unknown
// field `maxx`, expected one of …" with a generic "did not match any variant".
impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number (the maximum) or a map with `min`, `max`, `penalty`, `critical`",
                )
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Limit, E> {
                Ok(Limit::at_most(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Limit, E> {
                Ok(Limit::at_most(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Limit, E> {
                Ok(Limit::at_most(v as f64))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Limit, A::Error> {
                let m = LimitMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Limit {
                    min: m.min,
                    max: m.max,
                    penalty: m.penalty,
                    critical: m.critical,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A broken metric rule, scored like a phrase violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFinding {
    /// The rule's key, e.g. `max_silence`.
    pub id: String,
    /// Plain-language explanation, e.g. "Silence of 18.4 s at 1:02.3 (limit 15 s)".
    pub message: String,
    /// The measured value.
    pub value: f64,
    /// The bound it broke (`min` or `max`).
    pub limit: f64,
    pub penalty: f64,
    pub critical: bool,
    /// Where to listen, when the metric has a place in the call.
    pub evidence: Option<Span>,
}

impl MetricRules {
    fn each(&self) -> [(&'static str, Option<&Limit>); 6] {
        [
            ("max_silence", self.max_silence.as_ref()),
            ("agent_talk_share", self.agent_talk_share.as_ref()),
            ("max_monologue", self.max_monologue.as_ref()),
            ("interruptions", self.interruptions.as_ref()),
            ("speech_rate", self.speech_rate.as_ref()),
            ("first_word", self.first_word.as_ref()),
        ]
    }
}

/// Problems in a card's metric rules as (key path, message with a hint).
pub fn validate(rules: &MetricRules) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (id, limit) in rules.each() {
        let Some(l) = limit else { continue };
        let mut err = |key: &str, msg: String| {
            let path = if key.is_empty() {
                format!("metrics.{id}")
            } else {
                format!("metrics.{id}.{key}")
            };
            out.push((path, msg));
        };
        if l.min.is_none() && l.max.is_none() {
            err(
                "",
                format!("set `max` and/or `min`, e.g. `{id}: {{max: 10}}`"),
            );
        }
        for (key, v) in [("min", l.min), ("max", l.max)] {
            let Some(v) = v else { continue };
            if !v.is_finite() {
                err(key, "must be a finite number".into());
            } else if v < 0.0 {
                err(key, format!("must not be negative (got {})", num(v)));
            } else if id == "agent_talk_share" && v > 1.0 {
                err(
                    key,
                    format!("a share is a fraction of the call between 0 and 1 (got {}); write 0.7 for 70%", num(v)),
                );
            }
        }
        if let (Some(min), Some(max)) = (l.min, l.max) {
            if min > max {
                err(
                    "min",
                    format!("min {} is above max {}; swap them", num(min), num(max)),
                );
            }
        }
        if l.min.is_some() && matches!(id, "max_silence" | "max_monologue") {
            err("min", format!("only `max` applies to `{id}`; remove `min`"));
        }
        if !l.penalty.is_finite() || l.penalty < 0.0 {
            err(
                "penalty",
                format!("must be a number ≥ 0 (default {})", num(DEFAULT_PENALTY)),
            );
        }
    }
    out
}

/// Findings for every broken rule, at most one per rule. Rules about a party
/// are skipped on `estimated` (mono) calls; `speech_rate` applies to the
/// agent's overall rate, the per-minute rates only point at evidence.
pub fn check(m: &Metrics, rules: &MetricRules) -> Vec<MetricFinding> {
    let mut out = Vec::new();
    for (id, limit) in rules.each() {
        let Some(l) = limit else { continue };
        if m.estimated && id != "max_silence" {
            continue;
        }
        let finding = match id {
            "max_silence" => check_silence(m, l),
            "agent_talk_share" => m.agent_talk_share.and_then(|v| {
                breach(l, v).map(|(bound, over)| {
                    let msg = if over {
                        format!("Agent talked {} of the call (limit {})", pct(v), pct(bound))
                    } else {
                        format!(
                            "Agent talked only {} of the call (minimum {})",
                            pct(v),
                            pct(bound)
                        )
                    };
                    (v, bound, msg, None)
                })
            }),
            "max_monologue" => {
                let mono = m.longest_agent_monologue;
                let v = mono.map_or(0.0, |s| s.len().0);
                breach(l, v).map(|(bound, over)| {
                    let msg = match (over, mono) {
                        (true, Some(s)) => format!(
                            "Agent monologue of {:.1} s at {} (limit {} s)",
                            v,
                            s.start,
                            num(bound)
                        ),
                        _ => format!(
                            "Longest agent monologue {:.1} s (minimum {} s)",
                            v,
                            num(bound)
                        ),
                    };
                    (v, bound, msg, mono)
                })
            }
            "interruptions" => m.interruptions_by_agent.and_then(|n| {
                let v = n as f64;
                let first = m.overtalks.iter().find(|o| o.started_by == Speaker::Agent);
                breach(l, v).map(|(bound, over)| {
                    let mut msg = format!(
                        "Agent interrupted the customer {n} {} ({} {})",
                        if n == 1 { "time" } else { "times" },
                        if over { "limit" } else { "minimum" },
                        num(bound)
                    );
                    if let Some(o) = first {
                        msg += &format!("; first at {}", o.span.start);
                    }
                    (v, bound, msg, first.map(|o| o.span))
                })
            }),
            "speech_rate" => m.agent_speech_rate_wpm.and_then(|v| {
                breach(l, v).map(|(bound, over)| {
                    // Point at the minute that is most off, to listen to.
                    let minute = m
                        .agent_speech_rate_per_minute
                        .iter()
                        .enumerate()
                        .filter_map(|(i, r)| r.map(|r| (i, r)))
                        .reduce(|a, b| {
                            if (b.1 > a.1) == over && b.1 != a.1 {
                                b
                            } else {
                                a
                            }
                        });
                    let evidence = minute.map(|(i, _)| {
                        let s = i as f64 * 60.0;
                        Span::new(s, (s + 60.0).min(m.duration.0))
                    });
                    let mut msg = format!(
                        "Agent speaks at {:.0} words/min ({} {})",
                        v,
                        if over { "limit" } else { "minimum" },
                        num(bound)
                    );
                    if let (Some((_, r)), Some(e)) = (minute, evidence) {
                        let word = if over { "fastest" } else { "slowest" };
                        msg += &format!("; {word} {r:.0} words/min at {}", e.start);
                    }
                    (v, bound, msg, evidence)
                })
            }),
            "first_word" => {
                let (v, spoke) = match m.time_to_first_agent_word {
                    Some(t) => (t.0, true),
                    None => (m.duration.0, false),
                };
                breach(l, v).map(|(bound, over)| {
                    let msg = match (over, spoke) {
                        (true, true) => format!(
                            "Agent's first word at {} (limit {} s)",
                            Seconds(v),
                            num(bound)
                        ),
                        (true, false) => format!(
                            "Agent never spoke (limit {} s to the first word)",
                            num(bound)
                        ),
                        _ => format!(
                            "Agent's first word at {} (minimum {} s)",
                            Seconds(v),
                            num(bound)
                        ),
                    };
                    (
                        v,
                        bound,
                        msg,
                        Some(Span::new(0.0, v)).filter(|s| !s.is_empty()),
                    )
                })
            }
            _ => None,
        };
        if let Some((value, bound, message, evidence)) = finding {
            out.push(MetricFinding {
                id: id.to_string(),
                message,
                value,
                limit: bound,
                penalty: l.penalty,
                critical: l.critical,
                evidence,
            });
        }
    }
    out
}

type Found = (f64, f64, String, Option<Span>);

fn check_silence(m: &Metrics, l: &Limit) -> Option<Found> {
    let longest = m.longest_silence;
    let v = longest.map_or(0.0, |s| s.len().0);
    let (bound, over) = breach(l, v)?;
    let msg = match (over, longest) {
        (true, Some(s)) => {
            let mut msg = format!(
                "Silence of {:.1} s at {} (limit {} s)",
                v,
                s.start,
                num(bound)
            );
            // silences_over only lists gaps ≥ SILENCE_MIN, so the count is
            // only complete for limits at or above it.
            let n = m.silences_over.iter().filter(|s| s.len().0 > bound).count();
            if bound >= SILENCE_MIN && n > 1 {
                msg += &format!("; {n} silences over the limit");
            }
            msg
        }
        _ => format!("Longest silence {:.1} s (minimum {} s)", v, num(bound)),
    };
    Some((v, bound, msg, longest))
}

/// The bound `v` breaks and whether it is above the max (else below the min).
/// Values exactly at a bound pass.
fn breach(l: &Limit, v: f64) -> Option<(f64, bool)> {
    match (l.max, l.min) {
        (Some(max), _) if v > max => Some((max, true)),
        (_, Some(min)) if v < min => Some((min, false)),
        _ => None,
    }
}

/// `15`, `0.5`, `12.25`: no trailing zeros in messages.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn pct(share: f64) -> String {
    format!("{}%", num((share * 100.0 * 10.0).round() / 10.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{Region, Segment, SourceInfo, TRANSCRIPT_SCHEMA};
    use Speaker::{Agent, Customer, Unknown};

    fn call(
        duration: f64,
        regions: &[(Speaker, f64, f64)],
        segments: &[(Speaker, f64, f64, &str)],
    ) -> Transcript {
        Transcript {
            schema: TRANSCRIPT_SCHEMA.into(),
            source: SourceInfo {
                path: "call.wav".into(),
                sha256: String::new(),
                duration: Seconds(duration),
                channels: 2,
                sample_rate: 16_000,
                codec: "pcm".into(),
            },
            recognition: None,
            regions: regions
                .iter()
                .map(|&(speaker, s, e)| Region {
                    speaker,
                    span: Span::new(s, e),
                })
                .collect(),
            segments: segments
                .iter()
                .map(|&(speaker, s, e, text)| Segment {
                    start: Seconds(s),
                    end: Seconds(e),
                    speaker,
                    text: text.into(),
                })
                .collect(),
            warnings: Vec::new(),
        }
    }

    fn regions(duration: f64, r: &[(Speaker, f64, f64)]) -> Metrics {
        compute(&call(duration, r, &[]))
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn close_span(s: Option<Span>, start: f64, end: f64) -> bool {
        s.is_some_and(|s| close(s.start.0, start) && close(s.end.0, end))
    }

    fn words(n: usize) -> String {
        vec!["слово"; n].join(" ")
    }

    // --- talk time, shares, silence -------------------------------------

    #[test]
    fn talk_time_and_shares() {
        let m = regions(60.0, &[(Agent, 0.0, 30.0), (Customer, 30.0, 50.0)]);
        assert!(!m.estimated);
        assert_eq!(m.duration, Seconds(60.0));
        assert_eq!(m.agent_talk_time, Some(Seconds(30.0)));
        assert_eq!(m.customer_talk_time, Some(Seconds(20.0)));
        assert!(close(m.agent_talk_share.unwrap(), 0.5));
        assert!(close(m.customer_talk_share.unwrap(), 20.0 / 60.0));
        assert_eq!(m.speech_time, Seconds(50.0));
        assert_eq!(m.silence_time, Seconds(10.0));
        assert!(close(m.silence_share, 10.0 / 60.0));
    }

    #[test]
    fn silence_excludes_lead_in_and_tail() {
        let m = regions(
            60.0,
            &[
                (Agent, 5.0, 10.0),
                (Customer, 14.0, 20.0),
                (Agent, 30.0, 40.0),
            ],
        );
        assert!(close_span(m.longest_silence, 20.0, 30.0));
        assert_eq!(
            m.silences_over,
            vec![Span::new(10.0, 14.0), Span::new(20.0, 30.0)]
        );
        // The share still counts the whole call: 5 s lead-in, 20 s tail.
        assert!(close(m.silence_share, 39.0 / 60.0));
    }

    #[test]
    fn silence_threshold_is_inclusive() {
        let m = regions(
            20.0,
            &[(Agent, 0.0, 2.0), (Customer, 5.0, 6.0), (Agent, 8.9, 10.0)],
        );
        assert_eq!(m.silences_over, vec![Span::new(2.0, 5.0)]);
        assert!(close_span(m.longest_silence, 2.0, 5.0));
    }

    #[test]
    fn gap_filled_by_other_party_is_not_silence() {
        let m = regions(
            30.0,
            &[
                (Agent, 0.0, 10.0),
                (Customer, 9.0, 20.0),
                (Agent, 20.0, 30.0),
            ],
        );
        assert_eq!(m.longest_silence, None);
        assert!(m.silences_over.is_empty());
        assert_eq!(m.silence_share, 0.0);
    }

    #[test]
    fn overlapping_unsorted_regions_are_merged() {
        let m = regions(
            30.0,
            &[
                (Agent, 10.0, 20.0),
                (Agent, 0.0, 5.0),
                (Agent, 4.0, 12.0),
                (Agent, 3.0, 4.0),
            ],
        );
        assert_eq!(m.agent_talk_time, Some(Seconds(20.0)));
        assert!(close_span(m.longest_agent_monologue, 0.0, 20.0));
        assert_eq!(m.longest_silence, None);
    }

    #[test]
    fn one_party_silent_whole_call() {
        let m = regions(60.0, &[(Agent, 0.0, 20.0), (Agent, 25.0, 40.0)]);
        assert!(!m.estimated);
        assert_eq!(m.customer_talk_time, Some(Seconds(0.0)));
        assert_eq!(m.customer_talk_share, Some(0.0));
        assert_eq!(m.overtalk_count, Some(0));
        assert_eq!(m.interruptions_by_agent, Some(0));
        assert!(close_span(m.longest_silence, 20.0, 25.0));
        // A 5 s pause is too long to bridge.
        assert!(close_span(m.longest_agent_monologue, 0.0, 20.0));

        let m = regions(60.0, &[(Customer, 0.0, 50.0)]);
        assert_eq!(m.agent_talk_time, Some(Seconds(0.0)));
        assert_eq!(m.agent_speech_rate_wpm, None);
        assert_eq!(m.longest_agent_monologue, None);
        assert_eq!(m.time_to_first_agent_word, None);
        assert_eq!(m.agent_speech_rate_per_minute, vec![None]);
    }

    #[test]
    fn both_talking_throughout() {
        let m = regions(60.0, &[(Agent, 0.0, 60.0), (Customer, 0.0, 60.0)]);
        assert_eq!(m.overtalk_count, Some(1));
        assert_eq!(m.overtalks[0].span, Span::new(0.0, 60.0));
        assert_eq!(m.overtalks[0].started_by, Unknown);
        assert_eq!(m.interruptions_by_agent, Some(0));
        assert_eq!(m.interruptions_by_customer, Some(0));
        assert_eq!(m.silence_share, 0.0);
        assert_eq!(m.longest_silence, None);
        assert_eq!(m.agent_talk_share, Some(1.0));
        assert_eq!(m.customer_talk_share, Some(1.0));
        assert_eq!(m.longest_agent_monologue, None);
    }

    #[test]
    fn zero_speech_stereo() {
        let m = regions(45.0, &[]);
        assert!(!m.estimated);
        assert_eq!(m.speech_time, Seconds(0.0));
        assert_eq!(m.silence_share, 1.0);
        assert_eq!(m.longest_silence, None);
        assert_eq!(m.agent_talk_share, Some(0.0));
        assert_eq!(m.speech_rate_wpm, None);
        assert_eq!(m.agent_speech_rate_per_minute, vec![None]);
        serde_json::to_string(&m).unwrap();
    }

    #[test]
    fn zero_speech_mono_is_estimated() {
        let mut t = call(45.0, &[], &[]);
        t.source.channels = 1;
        let m = compute(&t);
        assert!(m.estimated);
        assert_eq!(m.agent_talk_time, None);
        assert_eq!(m.silence_share, 1.0);
    }

    #[test]
    fn zero_duration_has_no_nan() {
        let m = regions(0.0, &[]);
        assert_eq!(m.duration, Seconds(0.0));
        assert_eq!(m.silence_share, 0.0);
        assert_eq!(m.agent_talk_share, Some(0.0));
        assert!(m.agent_speech_rate_per_minute.is_empty());
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("NaN"));
        let back: Metrics = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn duration_stretches_to_last_speech() {
        let m = regions(0.0, &[(Agent, 0.0, 30.0)]);
        assert_eq!(m.duration, Seconds(30.0));
        assert_eq!(m.agent_talk_share, Some(1.0));
        let m = regions(f64::NAN, &[(Agent, 0.0, 30.0), (Customer, 40.0, 45.0)]);
        assert_eq!(m.duration, Seconds(45.0));
    }

    #[test]
    fn bad_spans_are_ignored() {
        let m = regions(
            60.0,
            &[
                (Agent, f64::NAN, 10.0),
                (Agent, 5.0, f64::INFINITY),
                (Agent, 20.0, 10.0),
                (Agent, -3.0, 4.0),
            ],
        );
        assert_eq!(m.agent_talk_time, Some(Seconds(4.0)));
        serde_json::to_string(&m).unwrap();
    }

    #[test]
    fn mono_is_estimated() {
        let mut t = call(
            120.0,
            &[(Unknown, 2.0, 30.0), (Unknown, 40.0, 60.0)],
            &[
                (Unknown, 2.0, 30.0, &words(40)),
                (Unknown, 40.0, 60.0, &words(56)),
            ],
        );
        t.source.channels = 1;
        let m = compute(&t);
        assert!(m.estimated);
        assert_eq!(m.agent_talk_time, None);
        assert_eq!(m.customer_talk_share, None);
        assert_eq!(m.overtalk_count, None);
        assert!(m.overtalks.is_empty());
        assert_eq!(m.interruptions_by_agent, None);
        assert_eq!(m.agent_speech_rate_wpm, None);
        assert!(m.agent_speech_rate_per_minute.is_empty());
        assert_eq!(m.longest_agent_monologue, None);
        assert_eq!(m.time_to_first_agent_word, None);
        // Still honest:
        assert_eq!(m.speech_time, Seconds(48.0));
        assert!(close(m.silence_share, 72.0 / 120.0));
        assert!(close_span(m.longest_silence, 30.0, 40.0));
        assert!(close(m.speech_rate_wpm.unwrap(), 120.0));
    }

    #[test]
    fn falls_back_to_segments_without_regions() {
        let m = compute(&call(
            60.0,
            &[],
            &[(Agent, 1.0, 11.0, &words(20)), (Customer, 15.0, 20.0, "да")],
        ));
        assert!(!m.estimated);
        assert_eq!(m.agent_talk_time, Some(Seconds(10.0)));
        assert_eq!(m.customer_talk_time, Some(Seconds(5.0)));
        assert!(close_span(m.longest_silence, 11.0, 15.0));
        assert!(close(m.agent_speech_rate_wpm.unwrap(), 120.0));
        assert_eq!(m.time_to_first_agent_word, Some(Seconds(1.0)));
    }

    // --- overtalk ----------------------------------------------------------

    #[test]
    fn customer_interrupts_agent() {
        let m = regions(20.0, &[(Agent, 0.0, 10.0), (Customer, 6.0, 12.0)]);
        assert_eq!(m.overtalk_count, Some(1));
        assert_eq!(
            m.overtalks,
            vec![Overtalk {
                span: Span::new(6.0, 10.0),
                started_by: Customer
            }]
        );
        assert_eq!(m.interruptions_by_customer, Some(1));
        assert_eq!(m.interruptions_by_agent, Some(0));
    }

    #[test]
    fn agent_interrupts_customer() {
        let m = regions(
            40.0,
            &[
                (Customer, 0.0, 10.0),
                (Agent, 5.0, 15.0),
                (Customer, 20.0, 30.0),
                (Agent, 28.0, 35.0),
            ],
        );
        assert_eq!(m.overtalk_count, Some(2));
        assert!(m.overtalks.iter().all(|o| o.started_by == Agent));
        assert_eq!(m.interruptions_by_agent, Some(2));
        assert_eq!(m.interruptions_by_customer, Some(0));
    }

    #[test]
    fn overtalk_must_exceed_minimum() {
        // Exactly 1 s is a backchannel, 1.5 s counts.
        let m = regions(30.0, &[(Agent, 0.0, 10.0), (Customer, 9.0, 12.0)]);
        assert_eq!(m.overtalk_count, Some(0));
        let m = regions(30.0, &[(Agent, 0.0, 10.0), (Customer, 8.5, 12.0)]);
        assert_eq!(m.overtalk_count, Some(1));
        let m = regions(30.0, &[(Agent, 0.0, 10.0), (Customer, 4.0, 4.6)]);
        assert_eq!(m.overtalk_count, Some(0));
    }

    #[test]
    fn cutting_in_during_a_breath_is_an_interruption() {
        // The customer starts in the agent's 0.3 s breath; the agent carries on.
        let m = regions(
            20.0,
            &[(Agent, 0.0, 4.0), (Agent, 4.3, 10.0), (Customer, 4.1, 6.0)],
        );
        assert_eq!(m.overtalks.len(), 1);
        assert_eq!(m.overtalks[0].span, Span::new(4.3, 6.0));
        assert_eq!(m.overtalks[0].started_by, Customer);
    }

    #[test]
    fn near_simultaneous_start_is_nobodys_interruption() {
        let m = regions(20.0, &[(Agent, 2.0, 8.0), (Customer, 2.1, 6.0)]);
        assert_eq!(m.overtalks[0].started_by, Unknown);
        assert_eq!(m.interruptions_by_agent, Some(0));
        assert_eq!(m.interruptions_by_customer, Some(0));
    }

    // --- speech rate ---------------------------------------------------------

    #[test]
    fn agent_speech_rate_uses_agent_words_and_talk_time() {
        let m = compute(&call(
            60.0,
            &[
                (Agent, 0.0, 20.0),
                (Agent, 30.0, 40.0),
                (Customer, 20.0, 30.0),
            ],
            &[
                (Agent, 0.0, 20.0, &words(40)),
                (Customer, 20.0, 30.0, &words(100)),
                (Agent, 30.0, 40.0, &words(20)),
            ],
        ));
        // 60 agent words in 30 s of agent talk.
        assert!(close(m.agent_speech_rate_wpm.unwrap(), 120.0));
        // 160 words in 40 s of speech.
        assert!(close(m.speech_rate_wpm.unwrap(), 240.0));
    }

    #[test]
    fn agent_rate_is_none_without_words() {
        let m = compute(&call(
            60.0,
            &[(Agent, 0.0, 20.0)],
            &[(Agent, 0.0, 20.0, "...")],
        ));
        assert_eq!(m.agent_speech_rate_wpm, None);
        assert_eq!(m.agent_speech_rate_per_minute, vec![None]);
        assert_eq!(m.time_to_first_agent_word, None);
    }

    #[test]
    fn per_minute_rate_spreads_words_over_agent_speech() {
        // 24 words in a segment spanning the minute boundary, with the agent
        // speaking 2 s before it and 10 s after: both minutes at 120 wpm.
        let m = compute(&call(
            150.0,
            &[(Agent, 50.0, 52.0), (Agent, 60.0, 70.0)],
            &[(Agent, 50.0, 70.0, &words(24))],
        ));
        let r = &m.agent_speech_rate_per_minute;
        assert_eq!(r.len(), 3);
        assert!(close(r[0].unwrap(), 120.0));
        assert!(close(r[1].unwrap(), 120.0));
        assert_eq!(r[2], None);
        assert!(close(m.agent_speech_rate_wpm.unwrap(), 120.0));
    }

    #[test]
    fn per_minute_rate_without_regions_is_proportional_to_segment_time() {
        let m = compute(&call(
            180.0,
            &[],
            &[
                (Agent, 30.0, 90.0, &words(90)),
                (Agent, 130.0, 160.0, &words(30)),
            ],
        ));
        let r = &m.agent_speech_rate_per_minute;
        assert_eq!(r.len(), 3);
        assert!(close(r[0].unwrap(), 90.0));
        assert!(close(r[1].unwrap(), 90.0));
        assert!(close(r[2].unwrap(), 60.0));
    }

    #[test]
    fn per_minute_rate_handles_zero_length_segment() {
        let m = compute(&call(
            120.0,
            &[(Agent, 70.0, 72.0)],
            &[(Agent, 71.0, 71.0, "да да")],
        ));
        assert_eq!(m.agent_speech_rate_per_minute[0], None);
        assert!(close(m.agent_speech_rate_per_minute[1].unwrap(), 60.0));
    }

    // --- monologue and first word --------------------------------------------

    #[test]
    fn monologue_bridges_short_agent_pauses() {
        let m = regions(
            60.0,
            &[(Agent, 0.0, 10.0), (Agent, 11.5, 20.0), (Agent, 23.0, 40.0)],
        );
        // 1.5 s pause bridged, 3 s pause not.
        assert!(close_span(m.longest_agent_monologue, 0.0, 20.0));
    }

    #[test]
    fn monologue_ends_where_the_customer_speaks() {
        let m = regions(
            60.0,
            &[
                (Agent, 0.0, 10.0),
                (Agent, 11.0, 19.0),
                (Customer, 10.2, 10.8),
            ],
        );
        assert!(close_span(m.longest_agent_monologue, 0.0, 10.0));
        // Even a backchannel over the agent splits it.
        let m = regions(60.0, &[(Agent, 0.0, 60.0), (Customer, 20.0, 20.5)]);
        assert!(close_span(m.longest_agent_monologue, 20.5, 60.0));
    }

    #[test]
    fn first_agent_word_starts_at_the_voice() {
        let m = compute(&call(
            60.0,
            &[(Customer, 0.0, 3.0), (Agent, 4.2, 8.0)],
            &[
                (Customer, 0.0, 3.0, "алло"),
                (Agent, 2.5, 3.0, "..."),
                (Agent, 3.0, 8.0, "Добрый день"),
            ],
        ));
        assert_eq!(m.time_to_first_agent_word, Some(Seconds(4.2)));
    }

    #[test]
    fn metrics_json_round_trip() {
        let m = compute(&call(
            90.0,
            &[
                (Agent, 1.0, 20.0),
                (Customer, 18.0, 40.0),
                (Agent, 50.0, 80.0),
            ],
            &[
                (Agent, 1.0, 20.0, "Добрый день, компания"),
                (Agent, 50.0, 80.0, &words(60)),
            ],
        ));
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["agent_talk_time"], 49.0);
        assert_eq!(json["overtalks"][0]["started_by"], "customer");
        assert_eq!(json["longest_silence"]["start"], 40.0);
        let back: Metrics = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
    }

    // --- rules -----------------------------------------------------------------

    fn rules(yaml: &str) -> MetricRules {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn limit_from_bare_number() {
        let r = rules("max_silence: 15\nmax_monologue: 62.5");
        assert_eq!(r.max_silence, Some(Limit::at_most(15.0)));
        assert_eq!(r.max_monologue, Some(Limit::at_most(62.5)));
        assert_eq!(r.agent_talk_share, None);
    }

    #[test]
    fn limit_from_map_with_defaults() {
        let r = rules("agent_talk_share: {min: 0.2}\nspeech_rate: {min: 110, max: 190, penalty: 2, critical: true}");
        assert_eq!(r.agent_talk_share, Some(Limit::at_least(0.2)));
        assert_eq!(
            r.speech_rate,
            Some(Limit {
                min: Some(110.0),
                max: Some(190.0),
                penalty: 2.0,
                critical: true
            })
        );
    }

    #[test]
    fn limit_unknown_key_is_an_error() {
        let err = serde_yaml::from_str::<MetricRules>("max_silence: {maxx: 15}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `maxx`"), "{err}");
        let err = serde_yaml::from_str::<MetricRules>("max_silence: fifteen")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a number (the maximum)"), "{err}");
        let err = serde_yaml::from_str::<MetricRules>("talk_share: 0.5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `talk_share`"), "{err}");
    }

    #[test]
    fn limit_round_trips_through_serialization() {
        let r = rules("interruptions: 2\nfirst_word: {max: 5, critical: true}");
        let back: MetricRules = serde_yaml::from_str(&serde_yaml::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn validate_accepts_good_rules() {
        let r = rules(
            "max_silence: 15\nagent_talk_share: {min: 0.2, max: 0.7}\nmax_monologue: 60\n\
             interruptions: {max: 2}\nspeech_rate: {min: 110, max: 190}\nfirst_word: {max: 5, penalty: 0}",
        );
        assert_eq!(validate(&r), vec![]);
        assert_eq!(validate(&MetricRules::default()), vec![]);
    }

    #[test]
    fn validate_reports_each_problem_with_its_path() {
        let r = rules(
            "max_silence: {min: 3, max: 10}\nagent_talk_share: {max: 70}\nmax_monologue: -5\n\
             interruptions: {penalty: 1}\nspeech_rate: {min: 190, max: 110}\nfirst_word: {max: 5, penalty: -1}",
        );
        let errs = validate(&r);
        let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "metrics.max_silence.min",
                "metrics.agent_talk_share.max",
                "metrics.max_monologue.max",
                "metrics.interruptions",
                "metrics.speech_rate.min",
                "metrics.first_word.penalty",
            ]
        );
        assert!(errs[1].1.contains("0.7 for 70%"), "{}", errs[1].1);
        assert!(
            errs[3].1.contains("set `max` and/or `min`"),
            "{}",
            errs[3].1
        );
        assert!(errs[4].1.contains("swap"), "{}", errs[4].1);
    }

    #[test]
    fn validate_rejects_non_finite_numbers() {
        let r = rules("max_silence: .nan\nmax_monologue: {max: 60, penalty: .inf}");
        let errs = validate(&r);
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].0, "metrics.max_silence.max");
        assert_eq!(errs[1].0, "metrics.max_monologue.penalty");
    }

    fn silence_call() -> Metrics {
        regions(
            120.0,
            &[
                (Agent, 0.0, 62.3),
                (Customer, 80.7, 90.0),
                (Agent, 106.0, 115.0),
            ],
        )
    }

    #[test]
    fn check_max_silence() {
        let f = check(&silence_call(), &rules("max_silence: 15"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "max_silence");
        assert_eq!(
            f[0].message,
            "Silence of 18.4 s at 1:02.3 (limit 15 s); 2 silences over the limit"
        );
        assert!(close(f[0].value, 18.4));
        assert_eq!(f[0].limit, 15.0);
        assert_eq!(f[0].penalty, DEFAULT_PENALTY);
        assert!(!f[0].critical);
        assert!(close_span(f[0].evidence, 62.3, 80.7));

        let f = check(
            &silence_call(),
            &rules("max_silence: {max: 19, penalty: 3, critical: true}"),
        );
        assert_eq!(f, vec![]);
        let f = check(
            &silence_call(),
            &rules("max_silence: {max: 18, penalty: 3, critical: true}"),
        );
        assert_eq!(f[0].message, "Silence of 18.4 s at 1:02.3 (limit 18 s)");
        assert_eq!((f[0].penalty, f[0].critical), (3.0, true));
    }

    #[test]
    fn check_value_at_the_limit_passes() {
        let m = regions(60.0, &[(Agent, 0.0, 30.0), (Customer, 45.0, 60.0)]);
        assert!(check(
            &m,
            &rules("max_silence: 15\nagent_talk_share: {min: 0.5, max: 0.5}")
        )
        .is_empty());
    }

    #[test]
    fn check_agent_talk_share() {
        let m = regions(100.0, &[(Agent, 0.0, 78.0), (Customer, 78.0, 100.0)]);
        let f = check(&m, &rules("agent_talk_share: {max: 0.7}"));
        assert_eq!(f[0].message, "Agent talked 78% of the call (limit 70%)");
        assert_eq!(f[0].evidence, None);
        let m = regions(100.0, &[(Agent, 0.0, 12.5), (Customer, 12.5, 100.0)]);
        let f = check(&m, &rules("agent_talk_share: {min: 0.2, max: 0.7}"));
        assert_eq!(
            f[0].message,
            "Agent talked only 12.5% of the call (minimum 20%)"
        );
        assert_eq!((f[0].value, f[0].limit), (0.125, 0.2));
    }

    #[test]
    fn check_max_monologue() {
        let m = regions(
            200.0,
            &[
                (Customer, 0.0, 10.0),
                (Agent, 10.0, 105.0),
                (Customer, 105.0, 110.0),
            ],
        );
        let f = check(&m, &rules("max_monologue: 60"));
        assert_eq!(
            f[0].message,
            "Agent monologue of 95.0 s at 0:10.0 (limit 60 s)"
        );
        assert_eq!(f[0].evidence, Some(Span::new(10.0, 105.0)));
    }

    #[test]
    fn check_interruptions_points_at_the_first() {
        let m = regions(
            60.0,
            &[
                (Customer, 0.0, 10.0),
                (Agent, 5.0, 15.0),
                (Customer, 20.0, 30.0),
                (Agent, 25.0, 35.0),
                (Customer, 40.0, 50.0),
                (Agent, 45.0, 55.0),
            ],
        );
        let f = check(&m, &rules("interruptions: 2"));
        assert_eq!(
            f[0].message,
            "Agent interrupted the customer 3 times (limit 2); first at 0:05.0"
        );
        assert_eq!(f[0].value, 3.0);
        assert_eq!(f[0].evidence, Some(Span::new(5.0, 10.0)));
        assert!(check(&m, &rules("interruptions: 3")).is_empty());
    }

    #[test]
    fn check_speech_rate_uses_the_overall_rate() {
        // Minute 0 at 240 wpm, minute 1 at 120 wpm: 180 overall.
        let m = compute(&call(
            120.0,
            &[(Agent, 0.0, 30.0), (Agent, 60.0, 90.0)],
            &[
                (Agent, 0.0, 30.0, &words(120)),
                (Agent, 60.0, 90.0, &words(60)),
            ],
        ));
        assert!(close(m.agent_speech_rate_wpm.unwrap(), 180.0));
        assert!(check(&m, &rules("speech_rate: {min: 110, max: 190}")).is_empty());
        let f = check(&m, &rules("speech_rate: {max: 170}"));
        assert_eq!(
            f[0].message,
            "Agent speaks at 180 words/min (limit 170); fastest 240 words/min at 0:00.0"
        );
        assert_eq!(f[0].evidence, Some(Span::new(0.0, 60.0)));
        let f = check(&m, &rules("speech_rate: {min: 200}"));
        assert_eq!(
            f[0].message,
            "Agent speaks at 180 words/min (minimum 200); slowest 120 words/min at 1:00.0"
        );
        assert_eq!(f[0].evidence, Some(Span::new(60.0, 120.0)));
    }

    #[test]
    fn check_first_word() {
        let m = compute(&call(
            60.0,
            &[(Agent, 7.5, 10.0)],
            &[(Agent, 7.5, 10.0, "Добрый день")],
        ));
        let f = check(&m, &rules("first_word: 5"));
        assert_eq!(f[0].message, "Agent's first word at 0:07.5 (limit 5 s)");
        assert_eq!(f[0].evidence, Some(Span::new(0.0, 7.5)));

        let m = regions(60.0, &[(Customer, 0.0, 10.0)]);
        let f = check(&m, &rules("first_word: 5"));
        assert_eq!(
            f[0].message,
            "Agent never spoke (limit 5 s to the first word)"
        );
        assert_eq!(f[0].value, 60.0);
    }

    #[test]
    fn check_skips_party_rules_on_mono() {
        let mut t = call(
            120.0,
            &[(Unknown, 20.0, 62.3), (Unknown, 80.7, 90.0)],
            &[(Unknown, 20.0, 62.3, &words(10))],
        );
        t.source.channels = 1;
        let m = compute(&t);
        let all = rules(
            "max_silence: 15\nagent_talk_share: {min: 0.9}\nmax_monologue: 1\n\
             interruptions: {min: 1}\nspeech_rate: {min: 300}\nfirst_word: 1",
        );
        let f = check(&m, &all);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "max_silence");
    }

    #[test]
    fn findings_serialize() {
        let f = check(&silence_call(), &rules("max_silence: 15"));
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json[0]["id"], "max_silence");
        assert_eq!(json[0]["evidence"]["end"], 80.7);
    }
}
