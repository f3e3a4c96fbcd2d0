//! Reports: the report folder a QA lead opens and a trainer mails.
//!
//! ```text
//! report/
//!   index.html            summary, charts, per-bucket and per-agent tables, all calls
//!   golden.html           the golden fund per bucket, with why each call is in it
//!   calls/call-0001.html  one page per call (checklist, evidence, timeline, transcript, audio)
//!   transcripts/call-0001.json  the transcript each call was scored on
//!   results.json          `callqa.results/2`, documented in docs/results.md
//!   results.csv           one row per call, UTF-8 with BOM (Excel shows Cyrillic)
//! ```
//!
//! Pages are self-contained (inline CSS, inline SVG charts, a little inline
//! script) and link relatively, so the folder can be zipped. Every file is
//! written atomically; the index is written last, so it never links to a page
//! that is not there yet. With `redact`, phone numbers are masked in every
//! file of the folder and recordings are not linked.

mod html;
mod redact;
mod summary;

pub use redact::{redact, Redactor};
pub use summary::{ErrorSummary, GroupSummary, MetricAverages, StageSummary, Summary, WeakStage};

use crate::batch::Failure;
use crate::card::GoldenSpec;
use crate::files::{write_atomic, write_atomic_with};
use crate::meta::{CallMeta, MetaSource};
use crate::score::{CallResult, CardRef, Outcome};
use crate::transcript::Transcript;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// Schema of results.json; bump on any change a reader could trip over.
pub const RESULTS_SCHEMA: &str = "callqa.results/2";
/// Kept for callers that build [`BatchResults`]; the same as [`RESULTS_SCHEMA`].
pub const BATCH_SCHEMA: &str = RESULTS_SCHEMA;

/// A call chosen for the golden fund, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenEntry {
    pub call: String,
    pub bucket: String,
    pub score: f64,
    /// 1 = best in its bucket.
    pub rank: usize,
    /// One line: every reason together.
    pub why: String,
    /// The same reasons, one per rule the call met.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// What one scoring run hands to the report: the results of every call, the
/// inputs that failed and the golden fund.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResults {
    pub schema: String,
    pub tool: String,
    pub card: CardRef,
    pub calls: Vec<CallResult>,
    pub failures: Vec<Failure>,
    pub golden: Vec<GoldenEntry>,
}

/// Where a call's transcript is. A batch keeps transcripts on disk and the
/// report reads each one only while it writes that call's page, so memory
/// does not grow with the number of calls.
#[derive(Debug, Clone)]
pub enum TranscriptRef<'a> {
    Loaded(&'a Transcript),
    /// A transcript JSON file.
    File(PathBuf),
}

impl TranscriptRef<'_> {
    fn load(&self) -> Result<Transcript, ReportError> {
        match self {
            TranscriptRef::Loaded(t) => Ok((*t).clone()),
            TranscriptRef::File(path) => std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                .map_err(|detail| ReportError::Read {
                    path: path.clone(),
                    detail,
                }),
        }
    }
}

/// What a call's page needs besides its result.
#[derive(Debug, Clone)]
pub struct CallPage<'a> {
    /// The call's name, as in its result.
    pub call: String,
    pub transcript: TranscriptRef<'a>,
    /// Where the recording is, for the audio player (None for transcripts).
    pub audio: Option<PathBuf>,
}

/// How the report is written.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Mask phone numbers everywhere in the folder and do not link recordings.
    pub redact: bool,
    /// Where call metadata comes from (default: the default file-name pattern).
    pub meta: MetaSource,
    /// For calls without a recording (scored from transcripts): look for
    /// `audio_dir/<call name>` to link in the player.
    pub audio_dir: Option<PathBuf>,
    /// The card's golden-fund rules, shown on golden.html.
    pub golden_rules: Option<GoldenSpec>,
}

/// One call in results.json: the scorer's result plus where its files are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEntry {
    #[serde(flatten)]
    pub result: CallResult,
    /// The call's page, relative to the report folder.
    pub page: String,
    /// The transcript it was scored on, relative to the report folder.
    pub transcript: Option<String>,
    /// The recording, relative to the report folder; `null` when unknown or redacted.
    pub audio: Option<String>,
    pub meta: CallMeta,
    /// The call is in the golden fund.
    pub golden: bool,
}

/// The content of results.json (`callqa.results/2`, see docs/results.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    pub tool: String,
    pub card: CardRef,
    /// Phone numbers are masked and recordings are not linked.
    pub redacted: bool,
    pub summary: Summary,
    pub calls: Vec<CallEntry>,
    pub failures: Vec<Failure>,
    pub golden: Vec<GoldenEntry>,
    /// The card's rules for the golden fund, when the report was given them.
    #[serde(default)]
    pub golden_rules: Option<GoldenSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: cannot read the call's transcript back: {detail}", path.display())]
    Read { path: PathBuf, detail: String },
    #[error("cannot render {page}: {detail}")]
    Render { page: String, detail: String },
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// File name of a call's page: stable, safe for any input name.
pub fn page_name(index: usize) -> String {
    format!("calls/call-{:04}.html", index + 1)
}

/// File name of a call's transcript copy.
pub fn transcript_name(index: usize) -> String {
    format!("transcripts/call-{:04}.json", index + 1)
}

/// Writes the whole report folder with default options except `redact`;
/// returns the index page's path.
pub fn write_report(
    dir: &Path,
    results: BatchResults,
    pages: &[CallPage],
    redact: bool,
) -> Result<PathBuf, ReportError> {
    write_report_with(
        dir,
        results,
        pages,
        &ReportOptions {
            redact,
            ..ReportOptions::default()
        },
    )
}

/// `to` relative to the directory `from`, with `/` separators (both made
/// absolute first; symlinks resolved when the paths exist).
fn relative(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let (a, b) = (abs(from), abs(to));
    let a: Vec<Component> = a.components().collect();
    let b: Vec<Component> = b.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn find_page<'p, 'a>(pages: &'p [CallPage<'a>], i: usize, call: &str) -> Option<&'p CallPage<'a>> {
    pages
        .get(i)
        .filter(|p| p.call == call)
        .or_else(|| pages.iter().find(|p| p.call == call))
}

impl Results {
    /// Everything results.json holds, unredacted.
    /// `page_of[i]` is call `i`'s page, if it has one.
    fn build(
        dir: &Path,
        batch: BatchResults,
        page_of: &[Option<&CallPage>],
        opts: &ReportOptions,
    ) -> Results {
        let BatchResults {
            schema: _,
            tool,
            card,
            calls,
            failures,
            golden,
        } = batch;
        let calls: Vec<CallEntry> = calls
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let page = page_of.get(i).copied().flatten();
                let audio = page.and_then(|p| p.audio.clone()).or_else(|| {
                    let dir = opts.audio_dir.as_ref()?;
                    let safe = Path::new(&r.call)
                        .components()
                        .all(|c| matches!(c, Component::Normal(_)));
                    let p = dir.join(&r.call);
                    (safe && p.is_file()).then_some(p)
                });
                CallEntry {
                    page: page_name(i),
                    transcript: page.map(|_| transcript_name(i)),
                    audio: if opts.redact {
                        None
                    } else {
                        audio.map(|a| relative(dir, &a))
                    },
                    meta: opts.meta.lookup(&r.call),
                    golden: golden.iter().any(|g| g.call == r.call),
                    result: r,
                }
            })
            .collect();
        Results {
            schema: RESULTS_SCHEMA.into(),
            tool,
            card,
            redacted: opts.redact,
            summary: summary::summarise(&calls, &failures, &golden),
            calls,
            failures,
            golden,
            golden_rules: opts.golden_rules.clone(),
        }
    }

    /// Masks phone numbers everywhere, one call at a time (a whole batch
    /// as one JSON value would take several times its size in memory).
    fn redact(&mut self, r: &Redactor) -> Result<(), ReportError> {
        for c in &mut self.calls {
            *c = masked(r, &*c, "results.json")?;
            c.meta.phone = c.meta.phone.as_deref().map(|p| r.phone(p));
            c.audio = None;
        }
        self.summary = masked(r, &self.summary, "results.json")?;
        self.failures = masked(r, &self.failures, "results.json")?;
        self.golden = masked(r, &self.golden, "results.json")?;
        self.redacted = true;
        Ok(())
    }
}

/// `x` with phone numbers masked in every string it holds.
fn masked<T: Serialize + serde::de::DeserializeOwned>(
    r: &Redactor,
    x: &T,
    page: &str,
) -> Result<T, ReportError> {
    let mut v = serde_json::to_value(x).map_err(|e| render_err(page, e))?;
    r.value(&mut v);
    serde_json::from_value(v).map_err(|e| render_err(page, e))
}

fn render_err(page: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Render {
        page: page.into(),
        detail: e.to_string(),
    }
}

/// Writes the whole report folder; returns the index page's path.
///
/// Call pages are written in parallel, each with its transcript read only
/// for as long as its page takes, so a batch of any size needs memory for
/// its results, not for its transcripts or pages.
pub fn write_report_with(
    dir: &Path,
    batch: BatchResults,
    pages: &[CallPage],
    opts: &ReportOptions,
) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    // Found by name before masking changes the names.
    let page_of: Vec<Option<&CallPage>> = batch
        .calls
        .iter()
        .enumerate()
        .map(|(i, r)| find_page(pages, i, &r.call))
        .collect();
    let mut results = Results::build(dir, batch, &page_of, opts);
    let redactor = opts
        .redact
        .then(|| Redactor::new(results.calls.iter().filter_map(|c| c.meta.phone.as_deref())));
    if let Some(r) = &redactor {
        results.redact(r)?;
    }
    let html = html::Pages::new()?;
    (0..results.calls.len())
        .into_par_iter()
        .try_for_each(|i| -> Result<(), ReportError> {
            let entry = &results.calls[i];
            let transcript = match page_of[i] {
                Some(p) => Some(p.transcript.load()?),
                None => None,
            };
            // Highlights come from the scorer's positions in the words as
            // recognised; masking keeps character positions, so they stay
            // right on the masked text.
            let marks = transcript
                .as_ref()
                .map(|t| html::marks(&entry.result, t))
                .unwrap_or_default();
            let transcript = match (&redactor, transcript) {
                (Some(r), Some(t)) => Some(masked(r, &t, "transcripts")?),
                (_, t) => t,
            };
            if let Some(t) = &transcript {
                let json =
                    serde_json::to_vec_pretty(t).map_err(|e| render_err("transcripts", e))?;
                write(&dir.join(transcript_name(i)), &json)?;
            }
            let page = html.call(&results, i, transcript.as_ref(), &marks)?;
            write(&dir.join(page_name(i)), page.as_bytes())
        })?;
    write(&dir.join("golden.html"), html.golden(&results)?.as_bytes())?;
    write(&dir.join("results.csv"), &csv(&results))?;
    let path = dir.join("results.json");
    write_atomic_with(&path, |w| Ok(serde_json::to_writer_pretty(w, &results)?))
        .map_err(|source| ReportError::Write { path, source })?;
    // Last, so the index never links to a page that is not there yet.
    write(&dir.join("index.html"), html.index(&results)?.as_bytes())?;
    remove_stale(dir, results.calls.len());
    Ok(dir.join("index.html"))
}

/// Deletes call pages and transcript copies an earlier, larger run left.
fn remove_stale(dir: &Path, calls: usize) {
    for (sub, ext) in [("calls", ".html"), ("transcripts", ".json")] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name
                .strip_prefix("call-")
                .and_then(|s| s.strip_suffix(ext))
                .filter(|s| s.len() >= 4 && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<usize>().ok());
            if n.is_some_and(|n| n == 0 || n > calls) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// A cell Excel would run as a formula (`=`, `+`, `-`, `@`) gets a leading `'`.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn f1(x: f64) -> String {
    format!("{:.1}", x + 0.0)
}

fn f3(x: f64) -> String {
    format!("{:.3}", x + 0.0)
}

/// The columns of results.csv before the per-stage ones (documented in docs/results.md).
pub const CSV_COLUMNS: &[&str] = &[
    "call",
    "page",
    "agent",
    "call_id",
    "date",
    "time",
    "direction",
    "phone",
    "bucket",
    "duration_s",
    "score",
    "failed",
    "golden",
    "speakers_verified",
    "stages_passed",
    "stages_applicable",
    "violations",
    "violation_hits",
    "agent_talk_share",
    "customer_talk_share",
    "silence_share",
    "longest_silence_s",
    "silences_over_3s",
    "overtalks",
    "interruptions_by_agent",
    "interruptions_by_customer",
    "speech_rate_wpm",
    "agent_speech_rate_wpm",
    "longest_agent_monologue_s",
    "time_to_first_agent_word_s",
    "errors",
];

/// One row per call; UTF-8 with a byte-order mark and CRLF line ends so
/// Excel shows Cyrillic; one `stage:<id>` column per card stage.
pub fn csv(results: &Results) -> Vec<u8> {
    let mut stage_ids: Vec<String> = Vec::new();
    for c in &results.calls {
        for s in &c.result.stages {
            if !stage_ids.contains(&s.id.0) {
                stage_ids.push(s.id.0.clone());
            }
        }
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let mut header: Vec<String> = CSV_COLUMNS.iter().map(|s| s.to_string()).collect();
    header.extend(stage_ids.iter().map(|id| format!("stage:{id}")));
    let _ = w.write_record(&header);
    for e in &results.calls {
        let c = &e.result;
        let m = &c.metrics;
        let (passed, applicable) = c.stages_passed();
        let mut row = vec![
            cell(&c.call),
            e.page.clone(),
            cell(e.meta.agent.as_deref().unwrap_or("")),
            cell(e.meta.call_id.as_deref().unwrap_or("")),
            e.meta.date.clone().unwrap_or_default(),
            e.meta.time.clone().unwrap_or_default(),
            cell(e.meta.direction.as_deref().unwrap_or("")),
            cell(e.meta.phone.as_deref().unwrap_or("")),
            cell(&c.bucket),
            f1(c.duration.0),
            f1(c.score),
            c.failed.to_string(),
            e.golden.to_string(),
            c.speakers_verified.to_string(),
            passed.to_string(),
            applicable.to_string(),
            cell(
                &c.violations
                    .iter()
                    .map(|v| format!("{}×{}", v.id, v.hits))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            c.violations
                .iter()
                .map(|v| v.hits)
                .sum::<usize>()
                .to_string(),
            opt(m.agent_talk_share.map(f3)),
            opt(m.customer_talk_share.map(f3)),
            f3(m.silence_share),
            opt(m.longest_silence.map(|s| f1(s.len().0))),
            m.silences_over.len().to_string(),
            opt(m.overtalk_count),
            opt(m.interruptions_by_agent),
            opt(m.interruptions_by_customer),
            opt(m.speech_rate_wpm.map(f1)),
            opt(m.agent_speech_rate_wpm.map(f1)),
            opt(m.longest_agent_monologue.map(|s| f1(s.len().0))),
            opt(m.time_to_first_agent_word.map(|s| f1(s.0))),
            cell(&c.errors.join("; ")),
        ];
        for id in &stage_ids {
            row.push(
                match c.stage(id).map(|s| s.outcome) {
                    Some(Outcome::Passed) => "passed",
                    Some(Outcome::Failed) => "failed",
                    Some(Outcome::NotApplicable) => "n/a",
                    None => "",
                }
                .to_string(),
            );
        }
        let _ = w.write_record(&row);
    }
    let mut out = vec![0xEF, 0xBB, 0xBF];
    out.extend(w.into_inner().unwrap_or_default());
    out
}

/// Reads a report folder's results.json (any `callqa.results/2`).
pub fn read_results(dir: &Path) -> Result<Results, String> {
    let path = dir.join("results.json");
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let schema = v.get("schema").and_then(|s| s.as_str()).unwrap_or("");
    if schema != RESULTS_SCHEMA {
        return Err(format!(
            "{}: schema {schema:?}, expected {RESULTS_SCHEMA:?}; score the calls again with this callqa to get a current report",
            path.display()
        ));
    }
    serde_json::from_value(v).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_never_run_as_formulas() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+79161234567.wav"), "'+79161234567.wav");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("звонок.wav"), "звонок.wav");
    }

    #[test]
    fn relative_paths() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("r/calls");
        let b = d.path().join("audio/x y.wav");
        std::fs::create_dir_all(&a).unwrap();
        assert_eq!(relative(&a, &b), "../../audio/x y.wav");
    }
}
