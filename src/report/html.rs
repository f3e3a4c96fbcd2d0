//! HTML pages from embedded tera templates. Autoescaping is on for every
//! template and no template marks call text or names `safe`, so they always
//! render as text. Everything a template shows is prepared here: numbers are
//! formatted, charts are laid out as SVG shapes, and transcript highlights
//! are split into (text, mark) pieces so escaping stays automatic.

use super::summary::{metric_rule_title, GroupSummary, MetricAverages};
use super::{page_name, CallEntry, ReportError, Results};
use crate::score::{CallResult, Evidence, Outcome};
use crate::transcript::Transcript;
use crate::types::{Seconds, Speaker};
use serde::Serialize;
use tera::{Context, Tera};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("index.html", include_str!("templates/index.html")),
    ("call.html", include_str!("templates/call.html")),
    ("golden.html", include_str!("templates/golden.html")),
];

fn tera() -> Result<Tera, ReportError> {
    let mut t = Tera::default();
    t.add_raw_templates(TEMPLATES.to_vec())
        .map_err(|e| ReportError::Render {
            page: "templates".into(),
            detail: format!("{e:?}"),
        })?;
    t.autoescape_on(vec![".html"]);
    Ok(t)
}

fn render_page(t: &Tera, template: &str, page: &str, ctx: &Context) -> Result<String, ReportError> {
    t.render(template, ctx).map_err(|e| {
        // tera's Display hides the cause; the chain says which variable.
        let mut detail = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            src = s.source();
        }
        ReportError::Render {
            page: page.into(),
            detail,
        }
    })
}

// ---------------------------------------------------------------- formatting

fn score(x: f64) -> String {
    format!("{:.1}", x + 0.0)
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0 + 0.0)
}

fn secs(x: f64) -> String {
    format!("{:.1} s", x + 0.0)
}

fn at(x: f64) -> String {
    Seconds(x).to_string()
}

fn dash() -> String {
    "—".to_string()
}

fn hours(total: f64) -> String {
    let t = total.max(0.0).round() as u64;
    if t >= 3600 {
        format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
    } else {
        format!("{}:{:02}", t / 60, t % 60)
    }
}

fn speaker_label(s: Speaker) -> &'static str {
    match s {
        Speaker::Agent => "Agent",
        Speaker::Customer => "Customer",
        Speaker::Unknown => "Speaker",
    }
}

fn direction_label(d: &str) -> String {
    match d {
        "in" => "inbound".into(),
        "out" => "outbound".into(),
        other => other.into(),
    }
}

/// Percent-encodes a relative path for an `href`/`src` (segments kept).
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------- highlights

/// A highlighted stretch of one transcript segment, in characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub start: usize,
    pub end: usize,
    /// `ok` (passed stage), `warn` (evidence of a failed stage) or `bad` (violation).
    pub kind: &'static str,
    pub label: String,
}

fn char_at(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

/// Where an evidence quote is in the transcript: (segment, start, end) in
/// characters, from the byte ranges the scorer recorded.
fn locate(t: &Transcript, e: &Evidence) -> Vec<(usize, usize, usize)> {
    e.parts
        .iter()
        .filter_map(|p| {
            let text = &t.segments.get(p.segment)?.text;
            let ok = p.start <= p.end
                && p.end <= text.len()
                && text.is_char_boundary(p.start)
                && text.is_char_boundary(p.end);
            ok.then(|| (p.segment, char_at(text, p.start), char_at(text, p.end)))
        })
        .collect()
}

/// Highlights per transcript segment for every piece of evidence of a call.
pub fn marks(r: &CallResult, t: &Transcript) -> Vec<Vec<Mark>> {
    let mut out: Vec<Vec<Mark>> = vec![Vec::new(); t.segments.len()];
    let mut add = |e: &Evidence, kind: &'static str, label: String| {
        for (seg, start, end) in locate(t, e) {
            if start < end {
                out[seg].push(Mark {
                    start,
                    end,
                    kind,
                    label: label.clone(),
                });
            }
        }
    };
    for s in &r.stages {
        let kind = if s.outcome == Outcome::Passed {
            "ok"
        } else {
            "warn"
        };
        for e in &s.evidence {
            let role = e
                .role
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            add(e, kind, format!("{}{role}: «{}»", s.title, e.phrase));
        }
    }
    for v in &r.violations {
        for e in &v.evidence {
            add(
                e,
                "bad",
                format!(
                    "{}{}: «{}»",
                    v.title,
                    if v.critical { " (critical)" } else { "" },
                    e.phrase
                ),
            );
        }
    }
    out
}

#[derive(Serialize)]
struct Piece {
    text: String,
    /// `ok`, `warn`, `bad`, or empty for plain text.
    mark: &'static str,
    title: String,
}

fn rank(kind: &str) -> u8 {
    match kind {
        "bad" => 3,
        "warn" => 2,
        _ => 1,
    }
}

/// Splits a segment's text into plain and highlighted pieces.
fn pieces(text: &str, marks: &[Mark]) -> Vec<Piece> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut cuts: Vec<usize> = vec![0, n];
    for m in marks {
        cuts.push(m.start.min(n));
        cuts.push(m.end.min(n));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Piece> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a == b {
            continue;
        }
        let over: Vec<&Mark> = marks
            .iter()
            .filter(|m| m.start <= a && b <= m.end)
            .collect();
        let mark = over
            .iter()
            .map(|m| m.kind)
            .max_by_key(|k| rank(k))
            .unwrap_or("");
        let mut labels: Vec<&str> = Vec::new();
        for m in &over {
            if !labels.contains(&m.label.as_str()) {
                labels.push(&m.label);
            }
        }
        let text: String = chars[a..b].iter().collect();
        let title = labels.join("; ");
        match out.last_mut() {
            Some(last) if last.mark == mark && last.title == title => last.text.push_str(&text),
            _ => out.push(Piece { text, mark, title }),
        }
    }
    out
}

// ---------------------------------------------------------------- index

#[derive(Serialize)]
struct Bar {
    x: String,
    y: String,
    w: String,
    h: String,
    label_y: String,
    mid: String,
    count: usize,
    band: String,
    lo: u32,
    hi: String,
    color: &'static str,
}

#[derive(Serialize)]
struct Histogram {
    bars: Vec<Bar>,
    base_y: u32,
    max: usize,
}

const BAND_COLORS: [&str; 10] = [
    "#b3261e", "#c2412d", "#d0603b", "#dc8045", "#e3a04c", "#d9b64f", "#b5bb51", "#8bb356",
    "#5ea55a", "#2f8f4e",
];

fn histogram(counts: &[usize]) -> Histogram {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let (left, top, base, width) = (10.0, 22.0, 170.0, 58.0);
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let h = (base - top) * n as f64 / max as f64;
            let x = left + i as f64 * (width + 6.0);
            let lo = i as u32 * 10;
            let hi = if i == 9 {
                "100".to_string()
            } else {
                format!("{}.9", lo + 9)
            };
            Bar {
                x: format!("{x:.1}"),
                y: format!("{:.1}", base - h),
                w: format!("{width:.1}"),
                h: format!("{:.1}", h.max(if n > 0 { 1.0 } else { 0.0 })),
                label_y: format!("{:.1}", base - h - 5.0),
                mid: format!("{:.1}", x + width / 2.0),
                count: n,
                band: if i == 9 {
                    "90–100".into()
                } else {
                    format!("{lo}–{}", lo + 9)
                },
                lo,
                hi,
                color: BAND_COLORS[i],
            }
        })
        .collect();
    Histogram {
        bars,
        base_y: base as u32,
        max,
    }
}

#[derive(Serialize)]
struct GroupView {
    name: String,
    filter: String,
    calls: usize,
    mean_score: String,
    range: String,
    critical: usize,
    golden: usize,
    duration: String,
    talk: String,
    silence: String,
    longest_silence: String,
    overtalks: String,
    agent_wpm: String,
    monologue: String,
    first_word: String,
    weakest: String,
}

fn metric_cells(m: &MetricAverages) -> [String; 7] {
    [
        m.agent_talk_share.map_or_else(dash, pct),
        m.silence_share.map_or_else(dash, pct),
        m.longest_silence_s.map_or_else(dash, secs),
        match (
            m.overtalks,
            m.interruptions_by_agent,
            m.interruptions_by_customer,
        ) {
            (Some(o), Some(a), Some(c)) => format!("{o:.1} ({a:.1} / {c:.1})"),
            (Some(o), _, _) => format!("{o:.1}"),
            _ => dash(),
        },
        m.agent_speech_rate_wpm
            .map_or_else(dash, |x| format!("{x:.0}")),
        m.longest_agent_monologue_s.map_or_else(dash, secs),
        m.time_to_first_agent_word_s.map_or_else(dash, secs),
    ]
}

fn group_view(g: &GroupSummary, key: &str) -> GroupView {
    let [talk, silence, longest_silence, overtalks, agent_wpm, monologue, first_word] =
        metric_cells(&g.metrics);
    GroupView {
        name: g.name.clone(),
        filter: format!("{key}={}", url_path(&g.name)),
        calls: g.calls,
        mean_score: score(g.mean_score),
        range: format!("scores {}–{}", score(g.min_score), score(g.max_score)),
        critical: g.critical_failures,
        golden: g.golden,
        duration: hours(g.total_duration_s),
        talk,
        silence,
        longest_silence,
        overtalks,
        agent_wpm,
        monologue,
        first_word,
        weakest: g.weakest_stage.as_ref().map_or_else(String::new, |w| {
            format!("{} ({})", w.title, pct(w.pass_rate))
        }),
    }
}

#[derive(Serialize)]
struct Row {
    page: String,
    name: String,
    agent: String,
    date: String,
    time: String,
    direction: String,
    direction_label: String,
    phone: String,
    bucket: String,
    duration: String,
    duration_v: String,
    score: String,
    score_v: String,
    failed: bool,
    golden: bool,
    stages: String,
    stages_v: String,
    violations: usize,
    errors: usize,
    talk: String,
    talk_v: String,
    silence: String,
    silence_v: String,
    overtalks: String,
    overtalks_v: String,
    wpm: String,
    wpm_v: String,
    status: String,
    errs: String,
    search: String,
}

fn row(e: &CallEntry) -> Row {
    let c = &e.result;
    let m = &c.metrics;
    let (passed, applicable) = c.stages_passed();
    let mut errs: Vec<String> = Vec::new();
    errs.extend(
        c.stages
            .iter()
            .filter(|s| s.outcome == Outcome::Failed)
            .map(|s| format!("stage:{}", s.id)),
    );
    errs.extend(c.violations.iter().map(|v| format!("violation:{}", v.id)));
    errs.extend(c.metric_findings.iter().map(|f| format!("metric:{}", f.id)));
    let mut status = Vec::new();
    if c.failed {
        status.push("critical");
    }
    if e.golden {
        status.push("golden");
    }
    if !c.errors.is_empty() {
        status.push("errors");
    }
    let meta = &e.meta;
    let search = [
        Some(c.call.as_str()),
        meta.agent.as_deref(),
        meta.phone.as_deref(),
        meta.date.as_deref(),
        meta.call_id.as_deref(),
    ]
    .iter()
    .flatten()
    .copied()
    .collect::<Vec<_>>()
    .join(" ")
    .to_lowercase();
    let num = |x: Option<f64>| x.map_or_else(String::new, |v| format!("{v:.4}"));
    Row {
        page: e.page.clone(),
        name: c.call.clone(),
        agent: meta.agent.clone().unwrap_or_default(),
        date: meta.date.clone().unwrap_or_default(),
        time: meta.time.clone().unwrap_or_default(),
        direction: meta.direction.clone().unwrap_or_default(),
        direction_label: meta
            .direction
            .as_deref()
            .map(direction_label)
            .unwrap_or_default(),
        phone: meta.phone.clone().unwrap_or_default(),
        bucket: c.bucket.clone(),
        duration: c.duration.to_string(),
        duration_v: format!("{:.2}", c.duration.0),
        score: score(c.score),
        score_v: score(c.score),
        failed: c.failed,
        golden: e.golden,
        stages: format!("{passed}/{applicable}"),
        stages_v: if applicable > 0 {
            format!("{:.4}", passed as f64 / applicable as f64)
        } else {
            String::new()
        },
        violations: c.violations.iter().map(|v| v.hits).sum(),
        errors: c.errors.len(),
        talk: m.agent_talk_share.map_or_else(dash, pct),
        talk_v: num(m.agent_talk_share),
        silence: pct(m.silence_share),
        silence_v: num(Some(m.silence_share)),
        overtalks: m.overtalk_count.map_or_else(dash, |n| n.to_string()),
        overtalks_v: m.overtalk_count.map_or_else(String::new, |n| n.to_string()),
        wpm: m
            .agent_speech_rate_wpm
            .map_or_else(dash, |x| format!("{x:.0}")),
        wpm_v: num(m.agent_speech_rate_wpm),
        status: status.join(" "),
        errs: errs.join(" "),
        search,
    }
}

fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = values.filter(|s| !s.is_empty()).collect();
    v.sort();
    v.dedup();
    v
}

fn index_context(res: &Results) -> Context {
    let s = &res.summary;
    let rows: Vec<Row> = res.calls.iter().map(row).collect();
    let stages: Vec<serde_json::Value> = s
        .stages
        .iter()
        .map(|st| {
            let rate = st.pass_rate.unwrap_or(0.0);
            serde_json::json!({
                "title": st.title, "required": st.required, "passed": st.passed,
                "applicable": st.passed + st.failed, "na": st.not_applicable,
                "pct": st.pass_rate.map_or_else(dash, pct), "width": format!("{:.1}", rate * 100.0),
                "filter": format!("err=stage:{}", url_path(&st.id)),
            })
        })
        .collect();
    let errors: Vec<serde_json::Value> = s
        .errors
        .iter()
        .take(12)
        .map(|e| {
            let kind = match e.kind.as_str() {
                "stage" => "stage not passed",
                "violation" => "violation",
                _ => "metric rule",
            };
            serde_json::json!({
                "key": e.key, "filter": format!("err={}", url_path(&e.key)), "kind": kind, "title": e.title,
                "calls": e.calls, "hits": e.hits, "critical": e.critical,
                "share": if s.calls > 0 { pct(e.calls as f64 / s.calls as f64) } else { dash() },
            })
        })
        .collect();
    let all = metric_cells(&s.metrics);
    let mut ctx = Context::new();
    ctx.insert("root", "");
    ctx.insert("card", &res.card);
    ctx.insert("tool", &res.tool);
    ctx.insert("redacted", &res.redacted);
    ctx.insert(
        "stats",
        &serde_json::json!({
            "calls": s.calls, "failed_inputs": s.failed_inputs, "critical": s.critical_failures, "golden": s.golden,
            "mean_score": s.mean_score.map_or_else(dash, score),
            "hours": hours(res.calls.iter().map(|c| c.result.duration.0).sum()),
        }),
    );
    ctx.insert("all_metrics", &all);
    ctx.insert("hist", &histogram(&s.score_histogram));
    ctx.insert(
        "buckets",
        &s.buckets
            .iter()
            .map(|g| group_view(g, "bucket"))
            .collect::<Vec<_>>(),
    );
    ctx.insert(
        "agents",
        &s.agents
            .iter()
            .map(|g| group_view(g, "agent"))
            .collect::<Vec<_>>(),
    );
    ctx.insert("calls_without_agent", &s.calls_without_agent);
    ctx.insert("stages", &stages);
    ctx.insert("errors", &errors);
    ctx.insert("more_errors", &s.errors.len().saturating_sub(12));
    ctx.insert("failures", &res.failures);
    ctx.insert("has_meta", &res.calls.iter().any(|c| !c.meta.is_empty()));
    ctx.insert(
        "has_phone",
        &res.calls.iter().any(|c| c.meta.phone.is_some()),
    );
    ctx.insert(
        "f_buckets",
        &s.buckets.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
    );
    ctx.insert(
        "f_agents",
        &distinct(res.calls.iter().filter_map(|c| c.meta.agent.clone())),
    );
    ctx.insert(
        "f_directions",
        &distinct(res.calls.iter().filter_map(|c| c.meta.direction.clone()))
            .into_iter()
            .map(|d| serde_json::json!({"value": d, "label": direction_label(&d)}))
            .collect::<Vec<_>>(),
    );
    ctx.insert("rows", &rows);
    ctx
}

// ---------------------------------------------------------------- call page

#[derive(Serialize, Clone)]
struct Ev {
    t: String,
    at: String,
    seg: usize,
    speaker: String,
    role: String,
    quote: String,
    phrase: String,
}

/// The segment to show for a moment of the call: the one playing then, else the next.
fn seg_at(t: &Transcript, x: f64) -> usize {
    let segs = &t.segments;
    segs.iter()
        .position(|s| s.start.0 <= x + 0.05 && x < s.end.0)
        .or_else(|| segs.iter().position(|s| s.start.0 >= x))
        .unwrap_or(segs.len().saturating_sub(1))
}

/// Evidence as shown: the same words found by two phrases are listed once.
fn evs(list: &[Evidence]) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    for e in list {
        let v = ev(e);
        match out
            .iter_mut()
            .find(|o| o.t == v.t && o.quote == v.quote && o.role == v.role)
        {
            Some(o) => {
                if !o.phrase.split(" | ").any(|p| p == v.phrase) {
                    o.phrase = format!("{} | {}", o.phrase, v.phrase);
                }
            }
            None => out.push(v),
        }
    }
    out
}

fn ev(e: &Evidence) -> Ev {
    Ev {
        t: format!("{:.2}", e.start.0),
        at: e.start.to_string(),
        seg: e.segment,
        speaker: e.speaker.to_string(),
        role: e.role.clone().unwrap_or_default(),
        quote: e.quote.clone(),
        phrase: e.phrase.to_string(),
    }
}

fn moment(t: &Transcript, x: f64, label: String) -> Ev {
    Ev {
        t: format!("{x:.2}"),
        at: at(x),
        seg: seg_at(t, x),
        speaker: String::new(),
        role: String::new(),
        quote: label,
        phrase: String::new(),
    }
}

#[derive(Serialize)]
struct Shape {
    x: String,
    y: String,
    w: String,
    h: String,
    cls: &'static str,
    title: String,
    t: String,
    seg: usize,
}

#[derive(Serialize)]
struct Lane {
    label: &'static str,
    y: String,
    text_y: String,
}

#[derive(Serialize)]
struct Tick {
    x: String,
    label: String,
}

#[derive(Serialize)]
struct Timeline {
    height: u32,
    /// Seconds the width stands for.
    duration: String,
    lanes: Vec<Lane>,
    speech: Vec<Shape>,
    bands: Vec<Shape>,
    events: Vec<Shape>,
    ticks: Vec<Tick>,
    axis_y: String,
    label_y: String,
    events_y: String,
}

const TL_LEFT: f64 = 80.0;
const TL_WIDTH: f64 = 1000.0;
const LANE_H: f64 = 18.0;

fn merged(mut v: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    v.retain(|(s, e)| s.is_finite() && e.is_finite() && e > s);
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Who speaks when, silences and overtalk, and every piece of evidence, as SVG shapes.
fn timeline(r: &CallResult, t: &Transcript) -> Timeline {
    let m = &r.metrics;
    let end = t
        .segments
        .iter()
        .map(|s| s.end.0)
        .fold(m.duration.0.max(r.duration.0), f64::max);
    let dur = if end.is_finite() && end > 0.0 {
        end
    } else {
        1.0
    };
    let x = |s: f64| TL_LEFT + (s.clamp(0.0, dur) / dur) * (TL_WIDTH - TL_LEFT - 10.0);
    let w = |a: f64, b: f64| (x(b) - x(a)).max(1.0);
    let spans: Vec<(Speaker, f64, f64)> = if t.regions.is_empty() {
        t.segments
            .iter()
            .map(|s| (s.speaker, s.start.0, s.end.0))
            .collect()
    } else {
        t.regions
            .iter()
            .map(|g| (g.speaker, g.span.start.0, g.span.end.0))
            .collect()
    };
    let stereo = spans.iter().any(|s| s.0 != Speaker::Unknown);
    let lanes_of: Vec<(Speaker, &'static str, &'static str)> = if stereo {
        vec![
            (Speaker::Agent, "Agent", "agent"),
            (Speaker::Customer, "Customer", "customer"),
        ]
    } else {
        vec![(Speaker::Unknown, "Speech", "unknown")]
    };
    let top = 6.0;
    let mut lanes = Vec::new();
    let mut speech = Vec::new();
    for (i, (who, label, cls)) in lanes_of.iter().enumerate() {
        let y = top + i as f64 * (LANE_H + 4.0);
        lanes.push(Lane {
            label,
            y: format!("{y:.1}"),
            text_y: format!("{:.1}", y + LANE_H - 5.0),
        });
        let mine: Vec<(f64, f64)> = spans
            .iter()
            .filter(|s| !stereo || s.0 == *who)
            .map(|s| (s.1, s.2))
            .collect();
        for (a, b) in merged(mine) {
            speech.push(Shape {
                x: format!("{:.1}", x(a)),
                y: format!("{y:.1}"),
                w: format!("{:.1}", w(a, b)),
                h: format!("{LANE_H:.1}"),
                cls,
                title: format!("{label} {} – {}", at(a), at(b)),
                t: format!("{a:.2}"),
                seg: seg_at(t, a),
            });
        }
    }
    let lanes_bottom = top + lanes_of.len() as f64 * (LANE_H + 4.0) - 4.0;
    let mut bands = Vec::new();
    for s in &m.silences_over {
        let (a, b) = (s.start.0, s.end.0);
        bands.push(Shape {
            x: format!("{:.1}", x(a)),
            y: format!("{:.1}", top - 3.0),
            w: format!("{:.1}", w(a, b)),
            h: format!("{:.1}", lanes_bottom - top + 6.0),
            cls: "sil",
            title: format!("Silence {} at {}", secs(b - a), at(a)),
            t: format!("{a:.2}"),
            seg: seg_at(t, b),
        });
    }
    for o in &m.overtalks {
        let (a, b) = (o.span.start.0, o.span.end.0);
        let by = match o.started_by {
            Speaker::Agent => ", the agent cut in",
            Speaker::Customer => ", the customer cut in",
            Speaker::Unknown => "",
        };
        bands.push(Shape {
            x: format!("{:.1}", x(a)),
            y: format!("{:.1}", top - 3.0),
            w: format!("{:.1}", w(a, b)),
            h: format!("{:.1}", lanes_bottom - top + 6.0),
            cls: "ot",
            title: format!("Overtalk {} at {}{by}", secs(b - a), at(a)),
            t: format!("{a:.2}"),
            seg: seg_at(t, a),
        });
    }
    let events_y = lanes_bottom + 8.0;
    let mut events = Vec::new();
    let mut tick = |a: f64, cls: &'static str, title: String, seg: usize| {
        events.push(Shape {
            x: format!("{:.1}", x(a) - 1.5),
            y: format!("{events_y:.1}"),
            w: "3.0".into(),
            h: "12.0".into(),
            cls,
            title,
            t: format!("{a:.2}"),
            seg,
        });
    };
    for s in &r.stages {
        let cls = if s.outcome == Outcome::Passed {
            "ok"
        } else {
            "warn"
        };
        for e in &s.evidence {
            tick(
                e.start.0,
                cls,
                format!("{} {}: «{}»", e.start, s.title, e.quote),
                e.segment,
            );
        }
    }
    for v in &r.violations {
        for e in &v.evidence {
            tick(
                e.start.0,
                "bad",
                format!("{} {}: «{}»", e.start, v.title, e.quote),
                e.segment,
            );
        }
    }
    for f in &r.metric_findings {
        if let Some(sp) = f.evidence {
            events.push(Shape {
                x: format!("{:.1}", x(sp.start.0)),
                y: format!("{events_y:.1}"),
                w: format!("{:.1}", w(sp.start.0, sp.end.0).max(3.0)),
                h: "12.0".into(),
                cls: "metric",
                title: f.message.clone(),
                t: format!("{:.2}", sp.start.0),
                seg: seg_at(t, sp.start.0),
            });
        }
    }
    let axis_y = events_y + 18.0;
    let step = [5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]
        .into_iter()
        .find(|s| dur / s <= 12.0)
        .unwrap_or(3600.0);
    let ticks = (0..)
        .map(|i| i as f64 * step)
        .take_while(|s| *s <= dur + 1e-9)
        .map(|s| Tick {
            x: format!("{:.1}", x(s)),
            label: hours(s),
        })
        .collect();
    Timeline {
        height: (axis_y + 16.0) as u32,
        duration: format!("{dur:.2}"),
        lanes,
        speech,
        bands,
        events,
        ticks,
        axis_y: format!("{axis_y:.1}"),
        label_y: format!("{:.1}", axis_y + 13.0),
        events_y: format!("{:.1}", events_y + 10.0),
    }
}

#[derive(Serialize)]
struct MetricRow {
    label: &'static str,
    value: String,
    links: Vec<Ev>,
}

fn metric_rows(r: &CallResult, t: &Transcript) -> Vec<MetricRow> {
    let m = &r.metrics;
    let mut rows = Vec::new();
    let mut push = |label, value: String, links: Vec<Ev>| {
        rows.push(MetricRow {
            label,
            value,
            links,
        })
    };
    if let (Some(a), Some(c), Some(at_), Some(ct)) = (
        m.agent_talk_share,
        m.customer_talk_share,
        m.agent_talk_time,
        m.customer_talk_time,
    ) {
        push(
            "Talk time",
            format!(
                "agent {} ({}), customer {} ({})",
                pct(a),
                hours(at_.0),
                pct(c),
                hours(ct.0)
            ),
            vec![],
        );
    }
    push(
        "Speech",
        format!(
            "{} of {} ({})",
            hours(m.speech_time.0),
            hours(m.duration.0),
            pct(1.0 - m.silence_share)
        ),
        vec![],
    );
    push(
        "Silence",
        format!("{} of the call", pct(m.silence_share)),
        vec![],
    );
    match m.longest_silence {
        Some(s) => push(
            "Longest silence",
            secs(s.len().0),
            vec![moment(
                t,
                s.start.0,
                format!("silence of {}", secs(s.len().0)),
            )],
        ),
        None => push("Longest silence", dash(), vec![]),
    }
    push(
        "Silences ≥ 3 s",
        m.silences_over.len().to_string(),
        m.silences_over
            .iter()
            .map(|s| moment(t, s.start.0, format!("silence of {}", secs(s.len().0))))
            .collect(),
    );
    if let Some(n) = m.overtalk_count {
        push(
            "Overtalk",
            format!(
                "{n} (the agent cut in {}, the customer {})",
                m.interruptions_by_agent.unwrap_or(0),
                m.interruptions_by_customer.unwrap_or(0)
            ),
            m.overtalks
                .iter()
                .map(|o| {
                    moment(
                        t,
                        o.span.start.0,
                        format!("overtalk of {}", secs(o.span.len().0)),
                    )
                })
                .collect(),
        );
    }
    push(
        "Speech rate",
        match (m.agent_speech_rate_wpm, m.speech_rate_wpm) {
            (Some(a), Some(all)) => format!("agent {a:.0} words/min, both {all:.0}"),
            (None, Some(all)) => format!("{all:.0} words/min"),
            _ => dash(),
        },
        vec![],
    );
    if let Some(s) = m.longest_agent_monologue {
        push(
            "Longest agent monologue",
            secs(s.len().0),
            vec![moment(
                t,
                s.start.0,
                format!("monologue of {}", secs(s.len().0)),
            )],
        );
    }
    if let Some(s) = m.time_to_first_agent_word {
        push(
            "Agent's first word",
            format!("after {}", secs(s.0)),
            vec![moment(t, s.0, "first word".into())],
        );
    }
    rows
}

#[derive(Serialize)]
struct Turn {
    seg: usize,
    speaker: String,
    who: &'static str,
    at: String,
    t: String,
    pieces: Vec<Piece>,
}

fn call_context(res: &Results, i: usize, t: Option<&Transcript>, marks: &[Vec<Mark>]) -> Context {
    let e = &res.calls[i];
    let r = &e.result;
    let empty = Transcript {
        schema: String::new(),
        source: crate::transcript::SourceInfo {
            path: r.call.clone(),
            sha256: String::new(),
            duration: r.duration,
            channels: 0,
            sample_rate: 0,
            codec: String::new(),
        },
        recognition: None,
        regions: Vec::new(),
        segments: Vec::new(),
        warnings: Vec::new(),
    };
    let tr = t.unwrap_or(&empty);
    let stages: Vec<serde_json::Value> = r
        .stages
        .iter()
        .map(|s| {
            let (cls, icon) = match s.outcome {
                Outcome::Passed => ("passed", "✓"),
                Outcome::Failed => ("failed", "✗"),
                Outcome::NotApplicable => ("na", "–"),
            };
            serde_json::json!({
                "id": s.id.0, "title": s.title, "required": s.required, "weight": s.weight, "cls": cls, "icon": icon,
                "outcome": match s.outcome { Outcome::Passed => "passed", Outcome::Failed => "failed", Outcome::NotApplicable => "not applicable" },
                "reason": s.reason, "evidence": evs(&s.evidence),
            })
        })
        .collect();
    let violations: Vec<serde_json::Value> = r
        .violations
        .iter()
        .map(|v| {
            serde_json::json!({
                "title": v.title, "critical": v.critical, "hits": v.hits, "penalty": format!("{:.1}", v.penalty),
                "evidence": evs(&v.evidence),
                "more": v.hits.saturating_sub(v.evidence.len()),
            })
        })
        .collect();
    let findings: Vec<serde_json::Value> = r
        .metric_findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "title": metric_rule_title(&f.id), "message": f.message, "critical": f.critical,
                "penalty": format!("{:.1}", f.penalty),
                "ev": f.evidence.map(|s| moment(tr, s.start.0, at(s.start.0))),
            })
        })
        .collect();
    let turns: Vec<Turn> = tr
        .segments
        .iter()
        .enumerate()
        .map(|(k, s)| Turn {
            seg: k,
            speaker: s.speaker.to_string(),
            who: speaker_label(s.speaker),
            at: s.start.to_string(),
            t: format!("{:.2}", s.start.0),
            pieces: pieces(&s.text, marks.get(k).map_or(&[][..], |m| &m[..])),
        })
        .collect();
    let golden = res.golden.iter().find(|g| g.call == r.call);
    let (passed, applicable) = r.stages_passed();
    let page_file = |k: usize| page_name(k).trim_start_matches("calls/").to_string();

    let mut ctx = Context::new();
    ctx.insert("root", "../");
    ctx.insert("card", &res.card);
    ctx.insert("tool", &res.tool);
    ctx.insert("redacted", &res.redacted);
    ctx.insert("name", &r.call);
    ctx.insert("number", &(i + 1));
    ctx.insert("total", &res.calls.len());
    ctx.insert("prev", &(i > 0).then(|| page_file(i - 1)));
    ctx.insert("next", &(i + 1 < res.calls.len()).then(|| page_file(i + 1)));
    ctx.insert(
        "meta",
        &serde_json::json!({
            "agent": e.meta.agent, "call_id": e.meta.call_id, "date": e.meta.date, "time": e.meta.time,
            "direction": e.meta.direction.as_deref().map(direction_label), "phone": e.meta.phone,
        }),
    );
    ctx.insert(
        "call",
        &serde_json::json!({
            "bucket": r.bucket, "duration": r.duration.to_string(), "score": score(r.score), "failed": r.failed,
            "speakers_verified": r.speakers_verified, "passed": passed, "applicable": applicable,
            "card": r.card, "model_sha256": r.model_sha256,
        }),
    );
    ctx.insert("golden", &golden.map(|g| serde_json::json!({"rank": g.rank, "bucket": g.bucket, "reasons": g.reasons, "why": g.why})));
    ctx.insert(
        "audio",
        &e.audio.as_ref().map(|a| url_path(&format!("../{a}"))),
    );
    ctx.insert(
        "audio_note",
        if res.redacted {
            "The recording is not linked: this report is redacted."
        } else {
            "No recording linked: the call was scored from a stored transcript."
        },
    );
    ctx.insert("stages", &stages);
    ctx.insert("violations", &violations);
    ctx.insert("findings", &findings);
    ctx.insert("errors", &r.errors);
    ctx.insert("metric_rows", &metric_rows(r, tr));
    ctx.insert("estimated", &r.metrics.estimated);
    ctx.insert("timeline", &timeline(r, tr));
    ctx.insert("turns", &turns);
    ctx.insert("warnings", &tr.warnings);
    ctx.insert(
        "transcript_file",
        &e.transcript.as_ref().map(|p| url_path(&format!("../{p}"))),
    );
    ctx
}

// ---------------------------------------------------------------- golden page

fn golden_context(res: &Results) -> Context {
    let mut names: Vec<String> = res.summary.buckets.iter().map(|b| b.name.clone()).collect();
    for g in &res.golden {
        if !names.contains(&g.bucket) {
            names.push(g.bucket.clone());
        }
    }
    let buckets: Vec<serde_json::Value> = names
        .iter()
        .map(|b| {
            let calls = res.calls.iter().filter(|c| &c.result.bucket == b).count();
            let excluded = res.golden_rules.as_ref().is_some_and(|r| r.exclude_buckets.contains(b));
            let entries: Vec<serde_json::Value> = res
                .golden
                .iter()
                .filter(|g| &g.bucket == b)
                .map(|g| {
                    let e = res.calls.iter().find(|c| c.result.call == g.call);
                    serde_json::json!({
                        "rank": g.rank, "name": g.call, "score": score(g.score),
                        "page": e.map(|e| e.page.clone()),
                        "agent": e.and_then(|e| e.meta.agent.clone()).unwrap_or_else(dash),
                        "date": e.and_then(|e| e.meta.date.clone()).unwrap_or_else(dash),
                        "duration": e.map(|e| e.result.duration.to_string()).unwrap_or_default(),
                        "reasons": if g.reasons.is_empty() { vec![g.why.clone()] } else { g.reasons.clone() },
                    })
                })
                .collect();
            serde_json::json!({"name": b, "calls": calls, "excluded": excluded, "entries": entries})
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("root", "");
    ctx.insert("card", &res.card);
    ctx.insert("tool", &res.tool);
    ctx.insert("redacted", &res.redacted);
    ctx.insert("rules", &res.golden_rules);
    ctx.insert("buckets", &buckets);
    ctx.insert("total", &res.golden.len());
    ctx
}

/// The report's templates, loaded once and shared by every page written.
pub struct Pages(Tera);

impl Pages {
    pub fn new() -> Result<Self, ReportError> {
        tera().map(Pages)
    }

    /// Call `i`'s page; `t` is the transcript it was scored on.
    pub fn call(
        &self,
        res: &Results,
        i: usize,
        t: Option<&Transcript>,
        marks: &[Vec<Mark>],
    ) -> Result<String, ReportError> {
        let ctx = call_context(res, i, t, marks);
        render_page(&self.0, "call.html", &page_name(i), &ctx)
    }

    pub fn golden(&self, res: &Results) -> Result<String, ReportError> {
        render_page(&self.0, "golden.html", "golden.html", &golden_context(res))
    }

    pub fn index(&self, res: &Results) -> Result<String, ReportError> {
        render_page(&self.0, "index.html", "index.html", &index_context(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::QuotePart;
    use crate::transcript::Segment;

    fn tr(texts: &[&str]) -> Transcript {
        let mut t = Transcript {
            schema: crate::transcript::TRANSCRIPT_SCHEMA.into(),
            source: crate::transcript::SourceInfo {
                path: "x.wav".into(),
                sha256: String::new(),
                duration: Seconds(10.0),
                channels: 2,
                sample_rate: 8000,
                codec: String::new(),
            },
            recognition: None,
            regions: Vec::new(),
            segments: Vec::new(),
            warnings: Vec::new(),
        };
        for (i, s) in texts.iter().enumerate() {
            t.segments.push(Segment {
                start: Seconds(i as f64),
                end: Seconds(i as f64 + 1.0),
                speaker: Speaker::Agent,
                text: s.to_string(),
            });
        }
        t
    }

    fn evidence(segment: usize, quote: &str) -> Evidence {
        Evidence {
            start: Seconds(0.0),
            end: Seconds(1.0),
            speaker: Speaker::Agent,
            quote: quote.into(),
            phrase: "p".into(),
            segment,
            role: None,
            parts: vec![],
        }
    }

    #[test]
    fn locates_quotes_from_the_scorers_byte_ranges() {
        let t = tr(&["Добрый день, компания «Окна»! Окна", "Меня зовут Дарья."]);
        // The second «Окна» of segment 0, then the start of segment 1.
        let mut e = evidence(0, "Окна Меня");
        e.parts = vec![
            QuotePart {
                segment: 0,
                start: "Добрый день, компания «Окна»! ".len(),
                end: t.segments[0].text.len(),
            },
            QuotePart {
                segment: 1,
                start: 0,
                end: "Меня".len(),
            },
        ];
        assert_eq!(locate(&t, &e), vec![(0, 30, 34), (1, 0, 4)]);
        // Ranges that do not fit the transcript are ignored, not trusted.
        e.parts = vec![
            QuotePart {
                segment: 9,
                start: 0,
                end: 4,
            },
            QuotePart {
                segment: 0,
                start: 1,
                end: 2,
            },
        ];
        assert!(locate(&t, &e).is_empty());
    }

    #[test]
    fn pieces_split_and_rank_overlaps() {
        let m = |start, end, kind, label: &str| Mark {
            start,
            end,
            kind,
            label: label.into(),
        };
        let p = pieces("<b>да</b> нет", &[m(0, 5, "ok", "a"), m(3, 9, "bad", "b")]);
        let got: Vec<(&str, &str, &str)> = p
            .iter()
            .map(|p| (p.text.as_str(), p.mark, p.title.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("<b>", "ok", "a"),
                ("да", "bad", "a; b"),
                ("</b>", "bad", "b"),
                (" нет", "", "")
            ]
        );
    }

    #[test]
    fn url_paths_are_encoded() {
        assert_eq!(
            url_path("../a b/#1 звонок.wav"),
            "../a%20b/%231%20%D0%B7%D0%B2%D0%BE%D0%BD%D0%BE%D0%BA.wav"
        );
    }
}
