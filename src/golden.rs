//! The golden fund: the best calls per length bucket, chosen by the card's
//! `golden` rules, for trainers to learn from; and [`export`], which copies
//! them out of a report folder into a training set.

use crate::card::GoldenSpec;
use crate::files::write_atomic;
use crate::meta::CallMeta;
use crate::report::{self, CallEntry, GoldenEntry};
use crate::score::{CallResult, CardRef, Outcome};
use crate::transcript::Transcript;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

fn num(x: f64) -> String {
    let x = x + 0.0;
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Calls that qualify, best first within each bucket (ties by name so the
/// choice is stable between runs).
pub fn select(calls: &[CallResult], spec: Option<&GoldenSpec>) -> Vec<GoldenEntry> {
    let Some(spec) = spec else { return Vec::new() };
    let hits = |c: &CallResult| c.violations.iter().map(|v| v.hits).sum::<usize>();
    let mut eligible: Vec<&CallResult> = calls
        .iter()
        .filter(|c| !c.failed)
        // A model call for trainers does every required step of the script.
        .filter(|c| {
            !c.stages
                .iter()
                .any(|s| s.required && s.outcome == Outcome::Failed)
        })
        .filter(|c| c.score >= spec.min_score)
        .filter(|c| !spec.exclude_buckets.contains(&c.bucket))
        .filter(|c| spec.max_violations.is_none_or(|m| hits(c) <= m as usize))
        .collect();
    eligible.sort_by(|a, b| {
        a.bucket
            .cmp(&b.bucket)
            .then(b.score.total_cmp(&a.score))
            .then(a.call.cmp(&b.call))
    });
    let mut out = Vec::new();
    for c in &eligible {
        let rank = out
            .iter()
            .filter(|g: &&GoldenEntry| g.bucket == c.bucket)
            .count()
            + 1;
        if rank > spec.top {
            continue;
        }
        let qualifying = eligible.iter().filter(|e| e.bucket == c.bucket).count();
        let (passed, applicable) = c.stages_passed();
        let violations = hits(c);
        let mut reasons = vec![
            format!("score {} ≥ the minimum {}", num(c.score), num(spec.min_score)),
            format!("{passed} of {applicable} applicable stages passed"),
            "no critical violation; every required stage passed".to_string(),
            match (violations, spec.max_violations) {
                (0, _) => "no violation heard".to_string(),
                (n, Some(m)) => format!("{n} violation hit(s), within the limit of {m}"),
                (n, None) => format!("{n} violation hit(s) (the card sets no limit)"),
            },
            format!(
                "#{rank} of {qualifying} qualifying call(s) in the {} bucket (the best {} are kept)",
                c.bucket, spec.top
            ),
        ];
        let missed: Vec<&str> = c
            .stages
            .iter()
            .filter(|s| s.outcome == Outcome::Failed)
            .map(|s| s.title.as_str())
            .collect();
        if !missed.is_empty() {
            reasons.push(format!("note: not passed: {}", missed.join(", ")));
        }
        out.push(GoldenEntry {
            call: c.call.clone(),
            bucket: c.bucket.clone(),
            score: c.score,
            rank,
            why: reasons.join("; "),
            reasons,
        });
    }
    out
}

/// Schema of an export's manifest.json.
pub const EXPORT_SCHEMA: &str = "callqa.golden-export/1";

/// One call of a training set; paths are relative to the export folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub bucket: String,
    pub rank: usize,
    /// The call's name in the report.
    pub call: String,
    pub score: f64,
    pub duration_s: f64,
    pub meta: CallMeta,
    /// The recording; `null` when the report did not link one.
    pub audio: Option<String>,
    /// The transcript the call was scored on (`callqa.transcript/1`).
    pub transcript: Option<String>,
    /// The same transcript as plain text, one turn per line.
    pub transcript_txt: Option<String>,
    /// The call's entry of the report's results.json.
    pub result: String,
    pub why: String,
}

/// The content of an export's manifest.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub tool: String,
    pub card: CardRef,
    /// The report folder it was exported from, as given.
    pub source_report: String,
    /// The report was redacted: phone numbers are masked, recordings absent.
    pub redacted: bool,
    pub rules: Option<GoldenSpec>,
    pub calls: Vec<ManifestEntry>,
}

/// What an export did.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub out_dir: PathBuf,
    pub calls: usize,
    pub audio_copied: usize,
    /// Calls whose recording is unknown to the report or could not be found.
    pub missing_audio: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Report(String),
    #[error("{}: {detail}", path.display())]
    Io { path: PathBuf, detail: String },
    #[error("{}: exists and is not a golden export (it has no manifest.json); give a new or empty folder", .0.display())]
    NotAnExport(PathBuf),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |e| ExportError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// A file-name part that is safe on every system: letters (any script),
/// digits, `-`, `_`, `+`, `.`; everything else becomes `_`.
fn safe(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '+' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    while out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

fn transcript_txt(t: &Transcript) -> String {
    t.segments
        .iter()
        .map(|s| format!("[{}] {}: {}\n", s.start, s.speaker, s.text))
        .collect()
}

/// Copies the golden calls of a report folder (`callqa score --out`) into a
/// training set: per bucket, each call's recording, transcript (JSON and
/// text) and result, plus `manifest.json` and `manifest.csv`.
///
/// The set is built in a temporary folder beside `out_dir` and renamed into
/// place, so a crash never leaves half a set. An earlier export in `out_dir`
/// is replaced; any other non-empty folder is refused.
pub fn export(from_report_dir: &Path, out_dir: &Path) -> Result<ExportSummary, ExportError> {
    let results = report::read_results(from_report_dir).map_err(ExportError::Report)?;
    if out_dir.exists() {
        let empty = std::fs::read_dir(out_dir)
            .map_err(io(out_dir))?
            .next()
            .is_none();
        if !empty && !out_dir.join("manifest.json").is_file() {
            return Err(ExportError::NotAnExport(out_dir.to_path_buf()));
        }
    }
    let parent = out_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".callqa-golden-")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let root = tmp.path();

    let mut calls = Vec::new();
    let mut summary = ExportSummary {
        out_dir: out_dir.to_path_buf(),
        calls: 0,
        audio_copied: 0,
        missing_audio: Vec::new(),
    };
    for g in &results.golden {
        let Some(entry) = results.calls.iter().find(|c| c.result.call == g.call) else {
            return Err(ExportError::Report(format!(
                "{}: golden call {:?} is not among the calls of results.json",
                from_report_dir.join("results.json").display(),
                g.call
            )));
        };
        let bucket = safe(&g.bucket);
        let base_name = entry
            .result
            .call
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&entry.result.call);
        let stem = safe(crate::meta::name_stem(base_name));
        let base = format!("{bucket}/{:02}-{stem}", g.rank);
        std::fs::create_dir_all(root.join(&bucket)).map_err(io(&root.join(&bucket)))?;

        let audio = copy_audio(from_report_dir, entry, root, &base)?;
        match &audio {
            Some(_) => summary.audio_copied += 1,
            None => summary.missing_audio.push(entry.result.call.clone()),
        }
        let (transcript, transcript_txt_path) = match &entry.transcript {
            Some(rel) => {
                let src = from_report_dir.join(rel);
                let bytes = std::fs::read(&src).map_err(io(&src))?;
                let t: Transcript =
                    serde_json::from_slice(&bytes).map_err(|e| ExportError::Io {
                        path: src.clone(),
                        detail: format!("not a callqa transcript: {e}"),
                    })?;
                let json = format!("{base}.transcript.json");
                let txt = format!("{base}.txt");
                write_atomic(&root.join(&json), &bytes).map_err(io(&root.join(&json)))?;
                write_atomic(&root.join(&txt), transcript_txt(&t).as_bytes())
                    .map_err(io(&root.join(&txt)))?;
                (Some(json), Some(txt))
            }
            None => (None, None),
        };
        let result = format!("{base}.result.json");
        let body =
            serde_json::to_vec_pretty(entry).map_err(|e| ExportError::Report(e.to_string()))?;
        write_atomic(&root.join(&result), &body).map_err(io(&root.join(&result)))?;
        calls.push(ManifestEntry {
            bucket: g.bucket.clone(),
            rank: g.rank,
            call: entry.result.call.clone(),
            score: g.score,
            duration_s: entry.result.duration.0,
            meta: entry.meta.clone(),
            audio,
            transcript,
            transcript_txt: transcript_txt_path,
            result,
            why: g.why.clone(),
        });
    }
    summary.calls = calls.len();
    let manifest = Manifest {
        schema: EXPORT_SCHEMA.into(),
        tool: format!("callqa {}", env!("CARGO_PKG_VERSION")),
        card: results.card.clone(),
        source_report: from_report_dir.display().to_string(),
        redacted: results.redacted,
        rules: results.golden_rules.clone(),
        calls,
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::Report(e.to_string()))?;
    write_atomic(&root.join("manifest.csv"), &manifest_csv(&manifest))
        .map_err(io(&root.join("manifest.csv")))?;
    write_atomic(&root.join("manifest.json"), &json).map_err(io(&root.join("manifest.json")))?;

    if out_dir.exists() {
        std::fs::remove_dir_all(out_dir).map_err(io(out_dir))?;
    }
    let built = tmp.keep();
    std::fs::rename(&built, out_dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&built);
        io(out_dir)(e)
    })?;
    Ok(summary)
}

fn copy_audio(
    from: &Path,
    entry: &CallEntry,
    root: &Path,
    base: &str,
) -> Result<Option<String>, ExportError> {
    let Some(rel) = &entry.audio else {
        return Ok(None);
    };
    let src = from.join(rel);
    if !src.is_file() {
        return Ok(None);
    }
    let ext = src
        .extension()
        .map(|e| safe(&e.to_string_lossy().to_lowercase()))
        .unwrap_or_else(|| "audio".into());
    let name = format!("{base}.{ext}");
    let dst = root.join(&name);
    std::fs::copy(&src, &dst).map_err(io(&src))?;
    Ok(Some(name))
}

/// The manifest as CSV: UTF-8 with BOM, CRLF, one row per call.
fn manifest_csv(m: &Manifest) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let _ = w.write_record([
        "bucket",
        "rank",
        "call",
        "score",
        "duration_s",
        "agent",
        "call_id",
        "date",
        "time",
        "direction",
        "phone",
        "audio",
        "transcript",
        "transcript_txt",
        "result",
        "why",
    ]);
    let cell = |s: &str| {
        if s.starts_with(['=', '+', '-', '@']) {
            format!("'{s}")
        } else {
            s.to_string()
        }
    };
    for c in &m.calls {
        let o = |v: &Option<String>| cell(v.as_deref().unwrap_or(""));
        let _ = w.write_record([
            cell(&c.bucket),
            c.rank.to_string(),
            cell(&c.call),
            format!("{:.1}", c.score + 0.0),
            format!("{:.1}", c.duration_s),
            o(&c.meta.agent),
            o(&c.meta.call_id),
            o(&c.meta.date),
            o(&c.meta.time),
            o(&c.meta.direction),
            o(&c.meta.phone),
            o(&c.audio),
            o(&c.transcript),
            o(&c.transcript_txt),
            c.result.clone(),
            cell(&c.why),
        ]);
    }
    let mut out = vec![0xEF, 0xBB, 0xBF];
    out.extend(w.into_inner().unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names() {
        assert_eq!(
            safe("<script>alert(1)</script>"),
            "_script_alert_1___script_"
        );
        assert_eq!(safe("..secret"), "_.secret");
        assert_eq!(safe("звонок 1"), "звонок_1");
        assert_eq!(safe(""), "_");
    }
}
