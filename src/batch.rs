//! A batch: find the calls in files and directories, then transcribe them
//! (through the cache) in parallel with one shared recogniser.

use crate::files::sha256_file;
use crate::transcribe::cache::Cache;
use crate::transcribe::{self, Options, Recogniser};
use crate::transcript::Transcript;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Extensions a call recorder writes (and a few we can only refuse clearly).
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "mp3", "flac", "ogg", "oga", "m4a", "mp4", "aac", "opus", "wma", "amr", "gsm",
];

/// One recording to process.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub path: PathBuf,
    /// How the call is named in results: the path as given, or relative to
    /// the directory it was found in.
    pub name: String,
}

/// An input that could not be processed, and why (one line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub input: String,
    pub reason: String,
}

fn is_audio(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn walk(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    failures: &mut Vec<Failure>,
    keep: &dyn Fn(&Path) -> bool,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            failures.push(Failure {
                input: dir.display().to_string(),
                reason: format!("cannot read directory: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out, failures, keep);
        } else if keep(&p) {
            out.push(p);
        }
    }
}

/// Expands files and directories (recursively, in a stable order) into
/// inputs. Files named explicitly are always taken; inside directories only
/// files `keep` accepts (by default: audio extensions), so notes and
/// spreadsheets beside the recordings are skipped quietly.
pub fn discover_with(args: &[PathBuf], keep: &dyn Fn(&Path) -> bool) -> (Vec<Input>, Vec<Failure>) {
    let mut inputs = Vec::new();
    let mut failures = Vec::new();
    for arg in args {
        if arg.is_dir() {
            let mut found = Vec::new();
            walk(arg, &mut found, &mut failures, keep);
            for p in found {
                let name = p.strip_prefix(arg).unwrap_or(&p).display().to_string();
                inputs.push(Input { path: p, name });
            }
        } else if arg.exists() {
            inputs.push(Input {
                path: arg.clone(),
                name: arg.display().to_string(),
            });
        } else {
            failures.push(Failure {
                input: arg.display().to_string(),
                reason: "no such file or directory".into(),
            });
        }
    }
    (inputs, failures)
}

pub fn discover(args: &[PathBuf]) -> (Vec<Input>, Vec<Failure>) {
    discover_with(args, &is_audio)
}

/// How a batch runs: how many calls at once, and whether to use the cache.
pub struct Runner<'a> {
    pub recogniser: &'a dyn Recogniser,
    pub options: Options,
    pub cache: Option<Cache>,
    pub jobs: usize,
    /// Set by Ctrl-C: calls not yet started are skipped; finished ones are in the cache.
    pub stop: Arc<AtomicBool>,
    /// How many inputs came from the cache rather than the recogniser.
    pub from_cache: AtomicUsize,
}

impl Runner<'_> {
    /// Transcribes one input, through the cache.
    pub fn transcribe(&self, input: &Input) -> Result<Transcript, Failure> {
        let fail = |reason: String| Failure {
            input: input.name.clone(),
            reason,
        };
        let sha = sha256_file(&input.path)
            .map_err(|e| fail(format!("{}: cannot read: {e}", input.name)))?;
        let id = self.recogniser.identity();
        let key = Cache::key(
            &sha,
            &id.sha256,
            &format!("{}; {}", self.recogniser.settings(), self.options.key()),
        );
        if let Some(mut t) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            self.from_cache.fetch_add(1, Ordering::Relaxed);
            t.source.path = input.name.clone();
            return Ok(t);
        }
        let t = transcribe::transcribe_file(
            &input.path,
            &input.name,
            &sha,
            self.recogniser,
            &self.options,
        )
        .map_err(|e| fail(e.to_string()))?;
        if let Some(c) = &self.cache {
            // A cache that cannot be written only costs time on the next run.
            if let Err(e) = c.put(&key, &t) {
                eprintln!(
                    "warning: cannot write the transcript cache in {}: {e}",
                    c.transcripts_dir().display()
                );
            }
        }
        Ok(t)
    }

    /// Transcribes every input, `jobs` at a time, and hands each transcript
    /// to `each` (with the input's position) as soon as it is ready, so a
    /// batch never holds more transcripts than it has workers. Returns what
    /// `each` returned, in input order.
    pub fn transcribe_each<T: Send>(
        &self,
        inputs: &[Input],
        each: impl Fn(usize, &Input, Result<Transcript, Failure>) -> T + Sync,
    ) -> Vec<T> {
        let bar = progress(inputs.len() as u64);
        // (seconds of audio transcribed, inputs failed) for the bar's message.
        let tally = std::sync::Mutex::new((0.0f64, 0usize));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.jobs.max(1))
            .build();
        let work = || {
            inputs
                .par_iter()
                .enumerate()
                .map(|(i, input)| {
                    if self.stop.load(Ordering::SeqCst) {
                        let reason =
                            "interrupted (Ctrl-C); run again to continue from the cache".into();
                        return each(
                            i,
                            input,
                            Err(Failure {
                                input: input.name.clone(),
                                reason,
                            }),
                        );
                    }
                    let r = self.transcribe(input);
                    if let Ok(mut t) = tally.lock() {
                        match &r {
                            Ok(tr) => t.0 += tr.duration().0,
                            Err(f) => {
                                t.1 += 1;
                                bar.println(format!("error: {}", f.reason));
                            }
                        }
                        bar.set_message(format!("{:.2} h of audio, {} failed", t.0 / 3600.0, t.1));
                    }
                    bar.inc(1);
                    each(i, input, r)
                })
                .collect()
        };
        let out = match pool {
            Ok(p) => p.install(work),
            Err(_) => work(),
        };
        bar.finish_and_clear();
        out
    }
}

/// A progress bar on a terminal; nothing when output goes to a file or CI log.
pub fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {pos}/{len} calls [{wide_bar}] {msg} · {elapsed} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
