//! The command line: clap parses, `Config`s are resolved and validated
//! before any work starts, then each subcommand drives the library stages.

use crate::batch::{self, Failure, Input, Runner};
use crate::card::{self, CompiledCard};
use crate::files::{sha256_file, write_atomic};
use crate::golden::{self, ExportError};
use crate::meta::{self, MetaPattern, MetaSource};
use crate::model;
use crate::regress::{self, Expectations, Expected};
use crate::report::{self, BatchResults, CallPage, TranscriptRef};
use crate::score::{self, CallResult, CardRef};
use crate::transcribe::cache::Cache;
use crate::transcribe::whisper::{Decoding, WhisperRecogniser};
use crate::transcribe::Options;
use crate::transcript::Transcript;
use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Exit codes (documented in README).
pub mod exit {
    pub const OK: u8 = 0;
    /// A quality gate failed: `--fail-under` or regression drift.
    pub const GATE: u8 = 1;
    /// Bad usage or a card that does not validate: nothing was scored.
    pub const USAGE: u8 = 2;
    /// Some inputs could not be processed; the rest were, and the report is written.
    pub const INPUTS: u8 = 3;
}

#[derive(Parser, Debug)]
#[command(
    name = "callqa",
    version,
    about = "Score call-centre recordings against quality cards, locally"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Transcribe recordings into timed, speaker-attributed transcripts.
    Transcribe(TranscribeArgs),
    /// Score calls (recordings or stored transcripts) against a quality card and write a report.
    Score(ScoreArgs),
    /// Compare scores with expectations (CI regression on sample calls).
    Regress(RegressArgs),
    /// Check or explain quality cards.
    #[command(subcommand)]
    Card(CardCommand),
    /// Import or inspect recognition models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Work with the golden fund of a report.
    #[command(subcommand)]
    Golden(GoldenCommand),
}

#[derive(Subcommand, Debug)]
enum GoldenCommand {
    /// Copy a report's golden calls (recordings, transcripts, results) into a training set with a manifest.
    Export {
        /// Report folder written by `callqa score --out`.
        #[arg(long)]
        from: PathBuf,
        /// Training-set folder to create; an earlier export there is replaced.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum CardCommand {
    /// Validate cards; every problem is printed as file:line:column.
    Check { files: Vec<PathBuf> },
    /// Show the compiled card: every phrase after normalisation and stemming.
    Explain { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Convert a CTranslate2 Whisper model (directory or model.bin) to whisper.cpp ggml.
    Import {
        src: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Weight type of the 2-D matrices.
        #[arg(long, default_value = "f16")]
        quantize: String,
    },
    /// Print a ggml model's hyper-parameters, tensor count, weight type and SHA-256.
    Info { file: PathBuf },
}

#[derive(Args, Debug, Clone)]
struct RecogArgs {
    /// whisper.cpp ggml model file.
    #[arg(long, env = "CALLQA_MODEL", default_value = "models/ggml-base.bin")]
    model: PathBuf,
    /// Recognition language (Whisper code, or `auto`); default: the card's, else ru.
    #[arg(long)]
    language: Option<String>,
    /// Recognisers at once (default: chosen for the cores and the number of calls).
    #[arg(long)]
    jobs: Option<usize>,
    /// Threads per recogniser (default: chosen for the cores and the number of calls).
    #[arg(long)]
    threads: Option<usize>,
    /// Beam search width; greedy decoding when absent.
    #[arg(long)]
    beam: Option<u8>,
    /// Recognise whole channels instead of detected speech regions.
    #[arg(long)]
    no_regions: bool,
    /// Neither read nor write the transcript cache.
    #[arg(long)]
    no_cache: bool,
    /// Transcript cache directory [env CALLQA_CACHE_DIR; default ~/.cache/callqa].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Refuse recordings longer than this many minutes.
    #[arg(long, default_value_t = 240.0)]
    max_duration: f64,
    /// Give up on a file whose recognition takes longer than this many seconds.
    #[arg(long, default_value_t = 1800)]
    file_timeout: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Json,
    Txt,
    Srt,
}

#[derive(Args, Debug)]
struct TranscribeArgs {
    /// Recordings and directories (searched recursively).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[arg(long, default_value = "transcripts")]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    #[command(flatten)]
    recog: RecogArgs,
}

#[derive(Args, Debug)]
struct ScoreArgs {
    /// Recordings and directories (searched recursively).
    inputs: Vec<PathBuf>,
    /// The quality card (YAML).
    #[arg(long)]
    card: PathBuf,
    /// Score stored transcripts (JSON from `callqa transcribe`) instead of audio: no model needed.
    #[arg(long)]
    transcripts: Option<PathBuf>,
    /// Report folder.
    #[arg(long, default_value = "report")]
    out: PathBuf,
    /// Exit 1 when any call scores below this (for CI).
    #[arg(long)]
    fail_under: Option<f64>,
    /// Mask phone numbers in every file of the report folder (recordings are then not linked).
    #[arg(long)]
    redact: bool,
    #[command(flatten)]
    meta: MetaArgs,
    #[command(flatten)]
    recog: RecogArgs,
}

#[derive(Args, Debug, Clone)]
struct MetaArgs {
    /// How call metadata is read from file names (`none`: not at all); see docs/results.md.
    #[arg(long, default_value = meta::DEFAULT_PATTERN)]
    meta_pattern: MetaPattern,
    /// CSV with metadata per recording: columns file, agent, call_id, date, time, direction, phone.
    #[arg(long)]
    meta_csv: Option<PathBuf>,
    /// With --transcripts: the folder of the recordings, to link them in the report's audio player.
    #[arg(long)]
    audio_dir: Option<PathBuf>,
}

impl MetaArgs {
    /// Report options, checked before any work starts.
    fn report_options(&self, card: &CompiledCard, redact: bool) -> Result<report::ReportOptions> {
        let sidecar = match &self.meta_csv {
            Some(p) => meta::load_sidecar(p).map_err(|e| usage(e.to_string()))?,
            None => Default::default(),
        };
        if let Some(d) = self.audio_dir.as_ref().filter(|d| !d.is_dir()) {
            return Err(usage(format!(
                "--audio-dir: {} is not a directory",
                d.display()
            )));
        }
        Ok(report::ReportOptions {
            redact,
            meta: MetaSource {
                pattern: Some(self.meta_pattern.clone()),
                sidecar,
            },
            audio_dir: self.audio_dir.clone(),
            golden_rules: card.golden.clone(),
        })
    }
}

#[derive(Args, Debug)]
struct RegressArgs {
    /// Recordings and directories (searched recursively).
    inputs: Vec<PathBuf>,
    /// Expectations file (YAML).
    #[arg(long)]
    expect: PathBuf,
    /// The quality card (YAML).
    #[arg(long)]
    card: PathBuf,
    /// Use stored transcripts instead of audio.
    #[arg(long)]
    transcripts: Option<PathBuf>,
    /// Rewrite the expectations from this run after a deliberate change.
    #[arg(long)]
    update: bool,
    /// Also write a report folder.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    meta: MetaArgs,
    #[command(flatten)]
    recog: RecogArgs,
}

/// An error that means "bad usage or bad card": exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

pub fn main() -> ExitCode {
    // Behave like other Unix tools when output goes to `head` or a closed
    // pipe: end quietly instead of panicking on a failed print.
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal at start-up,
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = if e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<card::CardError>().is_some()
            {
                exit::USAGE
            } else {
                1
            };
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Card(CardCommand::Check { files }) => card_check(&files),
        Command::Card(CardCommand::Explain { file }) => {
            let c = card::load(&file)?;
            print!("{}", card::explain(&c));
            Ok(exit::OK)
        }
        Command::Model(ModelCommand::Import {
            src,
            output,
            quantize,
        }) => {
            // The model module's error already lists every weight type it can write.
            let q: model::Quantize = quantize
                .parse()
                .map_err(|e: model::ModelError| usage(format!("--quantize: {e}")))?;
            let s = model::import(&src, &output, q)?;
            println!(
                "wrote {}: {} tensors, {} bytes, {}, sha256 {}",
                output.display(),
                s.tensors,
                s.bytes,
                s.quantize,
                s.sha256
            );
            Ok(exit::OK)
        }
        Command::Model(ModelCommand::Info { file }) => {
            let i = model::info(&file)?;
            let h = &i.hparams;
            println!("file       {}", i.path.display());
            println!("sha256     {}", i.sha256);
            println!("bytes      {}", i.bytes);
            println!("tensors    {}", i.tensors);
            println!("weights    {}", i.weight_type);
            println!(
                "vocab {} · mels {} · ftype {}",
                h.n_vocab, h.n_mels, h.ftype
            );
            println!(
                "audio ctx {} state {} heads {} layers {}",
                h.n_audio_ctx, h.n_audio_state, h.n_audio_head, h.n_audio_layer
            );
            println!(
                "text  ctx {} state {} heads {} layers {}",
                h.n_text_ctx, h.n_text_state, h.n_text_head, h.n_text_layer
            );
            Ok(exit::OK)
        }
        Command::Golden(GoldenCommand::Export { from, out }) => {
            let s = golden::export(&from, &out).map_err(|e| match e {
                ExportError::Report(_) | ExportError::NotAnExport(_) => usage(e.to_string()),
                other => other.into(),
            })?;
            println!(
                "exported {} golden call(s) to {} ({} with a recording)",
                s.calls,
                s.out_dir.display(),
                s.audio_copied
            );
            for c in &s.missing_audio {
                eprintln!(
                    "  {c}: no recording (scored from a transcript, or the report is redacted)"
                );
            }
            Ok(exit::OK)
        }
        Command::Transcribe(a) => transcribe(a),
        Command::Score(a) => score_cmd(a),
        Command::Regress(a) => regress_cmd(a),
    }
}

fn card_check(files: &[PathBuf]) -> Result<u8> {
    if files.is_empty() {
        return Err(usage("card check: name at least one card file"));
    }
    let mut bad = false;
    for f in files {
        match card::load(f) {
            Ok(c) => println!(
                "{}: ok — card {} v{}, {} stages, {} violations, {} phrases",
                f.display(),
                c.id,
                c.version,
                c.stages.len(),
                c.violations.len(),
                c.phrases.len()
            ),
            Err(e) => {
                bad = true;
                eprintln!("{e}");
            }
        }
    }
    Ok(if bad { exit::USAGE } else { exit::OK })
}

/// Resolved recognition settings, checked before any file is touched.
struct RecogConfig {
    model: PathBuf,
    options: Options,
    cache: Option<Cache>,
    cores: usize,
    jobs: Option<usize>,
    threads: Option<usize>,
    decoding: Decoding,
}

/// Recognisers at once × whisper.cpp threads per recogniser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Split {
    jobs: usize,
    threads: usize,
}

/// More recognisers than this would cost more memory (one decoding state,
/// ~170 MB with the base model, each) than the cores gain.
const MAX_JOBS: usize = 8;

/// How `cores` are shared among `calls` recordings when the user did not
/// say. whisper.cpp's threads wait for each other after every step of its
/// graph, so one thread per recogniser gets the most out of a core: 22 %
/// faster on the sample batch (bench/RESULTS.md). A lone call cannot keep
/// several single-threaded recognisers busy (its windows are few and uneven:
/// 10 % slower), so a call gets up to 4 threads while calls are fewer than
/// cores.
fn split(cores: usize, calls: usize, jobs: Option<usize>, threads: Option<usize>) -> Split {
    let cores = cores.max(1);
    match (jobs, threads) {
        (Some(jobs), Some(threads)) => Split { jobs, threads },
        (Some(jobs), None) => Split {
            jobs,
            threads: (cores / jobs).max(1),
        },
        (None, Some(threads)) => Split {
            jobs: (cores / threads).max(1),
            threads,
        },
        (None, None) => {
            let per_call = (cores / calls.max(1)).clamp(1, 4);
            let jobs = (cores / per_call).clamp(1, MAX_JOBS);
            Split {
                jobs,
                threads: (cores / jobs).clamp(1, 4),
            }
        }
    }
}

impl RecogArgs {
    fn resolve(&self, card: Option<&CompiledCard>) -> Result<RecogConfig> {
        if self.max_duration.is_nan() || self.max_duration <= 0.0 {
            return Err(usage("--max-duration must be positive"));
        }
        if self.beam == Some(0) {
            return Err(usage("--beam must be 1 or more"));
        }
        if self.threads == Some(0) || self.jobs == Some(0) {
            return Err(usage("--jobs and --threads must be 1 or more"));
        }
        let language = self
            .language
            .clone()
            .or_else(|| card.map(|c| c.language.clone()))
            .unwrap_or_else(|| "ru".into());
        if language != "auto" && whisper_rs::get_lang_id(&language).is_none() {
            return Err(usage(format!(
                "--language: {language:?} is not a Whisper language code (e.g. ru, en, auto)"
            )));
        }
        Ok(RecogConfig {
            model: self.model.clone(),
            options: Options {
                language,
                channels: card.map(|c| c.channels).unwrap_or_default(),
                use_regions: !self.no_regions,
                max_duration: self.max_duration * 60.0,
                file_timeout: Duration::from_secs(self.file_timeout),
            },
            cache: (!self.no_cache)
                .then(|| Cache::new(self.cache_dir.clone().unwrap_or_else(Cache::default_dir))),
            cores: std::thread::available_parallelism().map_or(2, |n| n.get()),
            jobs: self.jobs,
            threads: self.threads,
            decoding: self.beam.map_or(Decoding::Greedy, Decoding::Beam),
        })
    }
}

impl RecogConfig {
    /// Loads the model for a batch of `calls` recordings and returns a runner
    /// over it; Ctrl-C stops the runner cleanly.
    fn start(&self, calls: usize) -> Result<(WhisperRecogniser, usize)> {
        let s = split(self.cores, calls, self.jobs, self.threads);
        Ok((self.load(s.threads)?, s.jobs))
    }

    /// A batch runner over `rec`, `jobs` recognisers at once.
    fn runner<'a>(&self, rec: &'a WhisperRecogniser, jobs: usize) -> Runner<'a> {
        Runner {
            recogniser: rec,
            options: self.options.clone(),
            cache: self.cache.clone(),
            jobs,
            stop: stop_flag(),
            from_cache: AtomicUsize::new(0),
        }
    }

    fn load(&self, threads: usize) -> Result<WhisperRecogniser> {
        if !self.model.is_file() {
            return Err(usage(format!(
                "{}: model file not found. Get the default model with `bash models/fetch-model.sh`, or point --model / CALLQA_MODEL at a whisper.cpp ggml file",
                self.model.display()
            )));
        }
        let sha = sha256_file(&self.model)
            .with_context(|| format!("{}: cannot read model", self.model.display()))?;
        Ok(WhisperRecogniser::load(
            &self.model,
            sha,
            threads,
            self.decoding,
        )?)
    }
}

fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    // A second Ctrl-C while stopping exits at once.
    let _ = ctrlc::set_handler(move || {
        if s.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after the calls in progress; finished transcripts are cached");
    });
    stop
}

fn transcribe(a: TranscribeArgs) -> Result<u8> {
    let cfg = a.recog.resolve(None)?;
    let (inputs, mut failures) = batch::discover(&a.inputs);
    let (rec, jobs) = cfg.start(inputs.len())?;
    let runner = cfg.runner(&rec, jobs);
    let started = Instant::now();
    // Each transcript is written as soon as it is ready and then dropped.
    let outcomes = runner.transcribe_each(&inputs, |_, input, r| {
        let t = r?;
        let (ext, body) = match a.format {
            Format::Json => (
                "json",
                serde_json::to_string_pretty(&t).map_err(|e| e.to_string()),
            ),
            Format::Txt => ("txt", Ok(transcript_txt(&t))),
            Format::Srt => ("srt", Ok(transcript_srt(&t))),
        };
        let out = a.out.join(Path::new(&input.name).with_extension(ext));
        body.and_then(|b| write_atomic(&out, b.as_bytes()).map_err(|e| e.to_string()))
            .map_err(|e| Failure {
                input: input.name.clone(),
                reason: format!("{}: cannot write: {e}", out.display()),
            })?;
        Ok(Written {
            line: format!(
                "{} → {} ({} segments)",
                input.name,
                out.display(),
                t.segments.len()
            ),
            warnings: t.warnings,
            seconds: t.source.duration.0,
        })
    });
    let mut audio_seconds = 0.0;
    let mut done = 0;
    for (input, r) in inputs.iter().zip(outcomes) {
        match r {
            Ok(w) => {
                done += 1;
                audio_seconds += w.seconds;
                for warning in &w.warnings {
                    eprintln!("warning: {}: {warning}", input.name);
                }
                println!("{}", w.line);
            }
            Err(f) => failures.push(f),
        }
    }
    summary_failures(&failures);
    let wall = started.elapsed().as_secs_f64();
    // A speed over transcripts read from the cache would mean nothing.
    let speed = match runner.from_cache.load(Ordering::Relaxed) {
        0 => format!(" ({:.1}× real time)", audio_seconds / wall.max(1e-9)),
        n => format!(" ({n} from the cache)"),
    };
    println!(
        "transcribed {done} of {} input(s), {audio_seconds:.0} s of audio in {wall:.1} s{speed}",
        done + failures.len(),
    );
    Ok(if failures.is_empty() {
        exit::OK
    } else {
        exit::INPUTS
    })
}

/// What `callqa transcribe` reports about one written transcript.
struct Written {
    line: String,
    warnings: Vec<String>,
    seconds: f64,
}

fn summary_failures(failures: &[Failure]) {
    if !failures.is_empty() {
        eprintln!("{} input(s) failed:", failures.len());
        for f in failures {
            eprintln!("  {}", f.reason);
        }
    }
}

fn transcript_txt(t: &Transcript) -> String {
    t.segments
        .iter()
        .map(|s| format!("[{}] {}: {}\n", s.start, s.speaker, s.text))
        .collect()
}

fn transcript_srt(t: &Transcript) -> String {
    let ts = |x: f64| {
        let ms = (x.max(0.0) * 1000.0).round() as u64;
        format!(
            "{:02}:{:02}:{:02},{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    };
    t.segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{}\n{} --> {}\n{}: {}\n\n",
                i + 1,
                ts(s.start.0),
                ts(s.end.0),
                s.speaker,
                s.text
            )
        })
        .collect()
}

/// A scored call, the recording it came from (where known) and where its
/// transcript is kept for the report.
struct Scored {
    result: CallResult,
    audio: Option<PathBuf>,
    /// The transcript it was scored on, kept on disk for the report.
    transcript: Option<PathBuf>,
}

/// The transcripts of a running batch, kept on disk (in a hidden folder in
/// the report folder, removed when the batch is done) until the report is
/// written, so memory does not grow with the number of calls.
struct Spill(tempfile::TempDir);

impl Spill {
    fn new(out: &Path) -> Result<Spill> {
        std::fs::create_dir_all(out)
            .with_context(|| format!("{}: cannot create the report folder", out.display()))?;
        let dir = tempfile::Builder::new()
            .prefix(".callqa-work-")
            .tempdir_in(out)
            .with_context(|| format!("{}: cannot write", out.display()))?;
        Ok(Spill(dir))
    }

    fn keep(&self, i: usize, t: &Transcript) -> Result<PathBuf, String> {
        let path = self.0.path().join(format!("{i:06}.json"));
        serde_json::to_vec(t)
            .map_err(|e| e.to_string())
            .and_then(|b| std::fs::write(&path, b).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: cannot keep the transcript: {e}", path.display()))?;
        Ok(path)
    }
}

/// Reads a stored transcript (`callqa transcribe` JSON).
fn read_transcript(input: &Input) -> Result<Transcript, Failure> {
    std::fs::read(&input.path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Transcript>(&b).map_err(|e| e.to_string()))
        .map_err(|e| Failure {
            input: input.name.clone(),
            reason: format!("{}: not a callqa transcript: {e}", input.path.display()),
        })
}

/// Scores one call as soon as its transcript is ready and, with `spill`,
/// keeps the transcript on disk for the report.
fn score_call(
    i: usize,
    input: &Input,
    t: Result<Transcript, Failure>,
    audio: Option<PathBuf>,
    card: &CompiledCard,
    spill: Option<&Spill>,
) -> Result<Scored, Failure> {
    let t = t?;
    let result = score::score(&t, card);
    let transcript = spill
        .map(|s| s.keep(i, &t))
        .transpose()
        .map_err(|reason| Failure {
            input: input.name.clone(),
            reason,
        })?;
    Ok(Scored {
        result,
        audio,
        transcript,
    })
}

/// A scored batch, in call-name order. Its transcripts stay on disk in
/// `spill` until the report is written.
struct Batch {
    scored: Vec<Scored>,
    failures: Vec<Failure>,
    spill: Option<Spill>,
}

/// Gets transcripts (stored, or by recognition) and scores each one as soon
/// as it is ready. With a `report` folder, each transcript is kept on disk
/// for the report; without one, it is dropped once scored.
fn score_all(
    inputs: &[PathBuf],
    transcripts: Option<&Path>,
    recog: &RecogArgs,
    card: &CompiledCard,
    report: Option<&Path>,
) -> Result<Batch> {
    // Arguments are checked before the report folder is touched.
    match (transcripts, inputs.is_empty()) {
        (Some(_), false) => return Err(usage("give either recordings or --transcripts, not both")),
        (Some(dir), true) if !dir.is_dir() => {
            return Err(usage(format!(
                "--transcripts: {} is not a directory",
                dir.display()
            )))
        }
        (None, true) => {
            return Err(usage(
                "no inputs: name recordings or directories, or --transcripts DIR",
            ))
        }
        _ => {}
    }
    // The report folder is only created once the work can start.
    let (outcomes, mut failures, spill): (Vec<Result<Scored, Failure>>, _, _) = match transcripts {
        Some(dir) => {
            let (found, failures) = batch::discover_with(&[dir.to_path_buf()], &|p: &Path| {
                p.extension().is_some_and(|e| e == "json")
            });
            let spill = report.map(Spill::new).transpose()?;
            let outcomes = found
                .par_iter()
                .enumerate()
                .map(|(i, input)| {
                    let t = read_transcript(input);
                    score_call(i, input, t, None, card, spill.as_ref())
                })
                .collect();
            (outcomes, failures, spill)
        }
        None => {
            let cfg = recog.resolve(Some(card))?;
            let (found, failures) = batch::discover(inputs);
            if found.is_empty() && failures.is_empty() {
                return Err(usage("no recordings found in the inputs"));
            }
            let (rec, jobs) = cfg.start(found.len())?;
            let spill = report.map(Spill::new).transpose()?;
            let outcomes = cfg
                .runner(&rec, jobs)
                .transcribe_each(&found, |i, input, r| {
                    let audio = Some(input.path.clone());
                    score_call(i, input, r, audio, card, spill.as_ref())
                });
            (outcomes, failures, spill)
        }
    };
    let mut scored = Vec::new();
    for o in outcomes {
        match o {
            Ok(s) => scored.push(s),
            Err(f) => failures.push(f),
        }
    }
    scored.sort_by(|x, y| x.result.call.cmp(&y.result.call));
    Ok(Batch {
        scored,
        failures,
        spill,
    })
}

fn card_ref(card: &CompiledCard) -> CardRef {
    CardRef {
        id: card.id.clone(),
        version: card.version,
        title: card.title.clone(),
    }
}

fn write_report(
    out: &Path,
    card: &CompiledCard,
    scored: Vec<Scored>,
    failures: &[Failure],
    opts: &report::ReportOptions,
) -> Result<PathBuf> {
    let mut calls = Vec::with_capacity(scored.len());
    let mut files = Vec::with_capacity(scored.len());
    for s in scored {
        files.push((s.result.call.clone(), s.transcript, s.audio));
        calls.push(s.result);
    }
    let golden = golden::select(&calls, card.golden.as_ref());
    let results = BatchResults {
        schema: report::BATCH_SCHEMA.into(),
        tool: format!("callqa {}", env!("CARGO_PKG_VERSION")),
        card: card_ref(card),
        calls,
        failures: failures.to_vec(),
        golden,
    };
    let pages: Vec<CallPage> = files
        .into_iter()
        .filter_map(|(call, transcript, audio)| {
            Some(CallPage {
                call,
                transcript: TranscriptRef::File(transcript?),
                audio,
            })
        })
        .collect();
    Ok(report::write_report_with(out, results, &pages, opts)?)
}

fn score_cmd(a: ScoreArgs) -> Result<u8> {
    let card = card::load(&a.card)?;
    if let Some(f) = a.fail_under {
        if !(0.0..=100.0).contains(&f) {
            return Err(usage("--fail-under must be within 0..100"));
        }
    }
    let opts = a.meta.report_options(&card, a.redact)?;
    // `_spill` keeps the transcripts on disk until the report is written.
    let Batch {
        scored,
        failures,
        spill: _spill,
    } = score_all(
        &a.inputs,
        a.transcripts.as_deref(),
        &a.recog,
        &card,
        Some(&a.out),
    )?;
    for s in &scored {
        let r = &s.result;
        println!(
            "{:>5.1}  {:<7} {}{}",
            r.score,
            r.bucket,
            r.call,
            if r.failed { "  FAILED (critical)" } else { "" }
        );
    }
    summary_failures(&failures);
    let mut buckets: Vec<(String, f64, usize)> = Vec::new();
    for b in &card.buckets {
        let xs: Vec<f64> = scored
            .iter()
            .filter(|s| s.result.bucket == b.name)
            .map(|s| s.result.score)
            .collect();
        if !xs.is_empty() {
            buckets.push((
                b.name.clone(),
                xs.iter().sum::<f64>() / xs.len() as f64,
                xs.len(),
            ));
        }
    }
    let hours: f64 = scored.iter().map(|s| s.result.duration.0).sum::<f64>() / 3600.0;
    println!(
        "scored {} call(s) ({:.2} h of audio), {} failed input(s); mean score {}",
        scored.len(),
        hours,
        failures.len(),
        buckets
            .iter()
            .map(|(b, m, n)| format!("{b} {m:.1} ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let low: Vec<String> = match a.fail_under {
        Some(limit) => scored
            .iter()
            .filter(|s| s.result.score < limit)
            .map(|s| s.result.call.clone())
            .collect(),
        None => Vec::new(),
    };
    let index = write_report(&a.out, &card, scored, &failures, &opts)?;
    println!("report: {}", index.display());
    if let (Some(limit), false) = (a.fail_under, low.is_empty()) {
        eprintln!(
            "{} call(s) scored under {limit}: {}",
            low.len(),
            low.join(", ")
        );
        return Ok(exit::GATE);
    }
    Ok(if failures.is_empty() {
        exit::OK
    } else {
        exit::INPUTS
    })
}

fn regress_cmd(a: RegressArgs) -> Result<u8> {
    let card = card::load(&a.card)?;
    let exp: Option<Expectations> = match std::fs::read_to_string(&a.expect) {
        Ok(s) => Some(
            serde_yaml::from_str(&s).map_err(|e| usage(format!("{}: {e}", a.expect.display())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && a.update => None,
        Err(e) => return Err(usage(format!("{}: cannot read: {e}", a.expect.display()))),
    };
    let opts = a.meta.report_options(&card, false)?;
    let Batch {
        scored,
        failures,
        spill: _spill,
    } = score_all(
        &a.inputs,
        a.transcripts.as_deref(),
        &a.recog,
        &card,
        a.out.as_deref(),
    )?;
    // Regression runs are on sample calls: keeping their results beside the
    // report costs nothing.
    let results: Vec<CallResult> = scored.iter().map(|s| s.result.clone()).collect();
    if let Some(out) = &a.out {
        let index = write_report(out, &card, scored, &failures, &opts)?;
        println!("report: {}", index.display());
    }
    summary_failures(&failures);
    if a.update {
        let new = Expectations {
            card: card.id.clone(),
            calls: results
                .iter()
                .map(|r| (r.call.clone(), Expected::from_result(r)))
                .collect(),
        };
        let yaml = serde_yaml::to_string(&new)?;
        let header = "# Expected results of the sample calls; rewrite with `callqa regress --update` after a deliberate change.\n";
        write_atomic(&a.expect, format!("{header}{yaml}").as_bytes())
            .with_context(|| format!("{}: cannot write", a.expect.display()))?;
        println!(
            "updated {} with {} call(s)",
            a.expect.display(),
            results.len()
        );
        return Ok(if failures.is_empty() {
            exit::OK
        } else {
            exit::INPUTS
        });
    }
    let exp = exp.ok_or_else(|| anyhow!("no expectations"))?;
    let rep = regress::compare(&exp, &results);
    for (call, lines) in &rep.drifted {
        println!("DRIFT {call}");
        for l in lines {
            println!("  - {l}");
        }
    }
    for c in &rep.unexpected {
        println!("NEW   {c} (not in {})", a.expect.display());
    }
    for c in &rep.missing {
        println!("MISSING {c} (expected, not scored)");
    }
    println!(
        "regress: {} matched, {} drifted, {} new, {} missing",
        rep.matched,
        rep.drifted.len(),
        rep.unexpected.len(),
        rep.missing.len()
    );
    Ok(if rep.ok() { exit::OK } else { exit::GATE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_go_to_calls_first_then_to_threads() {
        let auto = |cores, calls| {
            let s = split(cores, calls, None, None);
            (s.jobs, s.threads)
        };
        assert_eq!(auto(2, 1), (1, 2), "a lone call gets every core");
        assert_eq!(auto(2, 8), (2, 1), "a batch: one thread per recogniser");
        assert_eq!(auto(8, 3), (4, 2));
        assert_eq!(auto(16, 1), (4, 4), "a call's windows are shared too");
        assert_eq!(auto(32, 100), (8, 4), "memory caps the recognisers");
        assert_eq!(auto(6, 1), (1, 4), "at most 4 threads per recogniser");
        assert_eq!(auto(1, 5), (1, 1));
        assert_eq!(
            split(2, 8, Some(1), None),
            Split {
                jobs: 1,
                threads: 2
            }
        );
        assert_eq!(
            split(2, 8, None, Some(2)),
            Split {
                jobs: 1,
                threads: 2
            }
        );
        assert_eq!(
            split(4, 8, Some(3), Some(3)),
            Split {
                jobs: 3,
                threads: 3
            }
        );
    }
}
