//! The whisper.cpp recogniser: one loaded model shared by all workers, one
//! decoding state per worker, reused between windows.

use super::{ModelIdentity, RawSegment, Recogniser};
use crate::audio::TARGET_RATE;
use crate::types::Seconds;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    Greedy,
    Beam(u8),
}

pub struct WhisperRecogniser {
    ctx: WhisperContext,
    states: Mutex<Vec<WhisperState>>,
    identity: ModelIdentity,
    threads: usize,
    decoding: Decoding,
    /// `CALLQA_DEBUG` set: keep whisper.cpp's log and time each window.
    debug: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    #[error("{}: model file not found. Get the default model with `bash models/fetch-model.sh`, or point --model / CALLQA_MODEL at a whisper.cpp ggml file", .0.display())]
    Missing(PathBuf),
    #[error("{}: cannot load as a whisper.cpp ggml model: {detail}", path.display())]
    Load { path: PathBuf, detail: String },
}

impl WhisperRecogniser {
    pub fn load(
        path: &Path,
        sha256: String,
        threads: usize,
        decoding: Decoding,
    ) -> Result<Self, ModelLoadError> {
        if !path.is_file() {
            return Err(ModelLoadError::Missing(path.to_path_buf()));
        }
        // Without a log backend this routes whisper.cpp's per-window chatter
        // nowhere; QA staff read one line per file.
        let debug = std::env::var_os("CALLQA_DEBUG").is_some();
        if !debug {
            whisper_rs::install_logging_hooks();
        }
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| ModelLoadError::Load {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(WhisperRecogniser {
            ctx,
            states: Mutex::new(Vec::new()),
            identity: ModelIdentity { name, sha256 },
            threads: threads.max(1),
            decoding,
            debug,
        })
    }
}

/// Encoder positions per second of audio (Whisper: 1500 for 30 s).
const FRAMES_PER_SECOND: usize = 50;
/// Encoder positions kept beyond the audio, so the last word's tail and
/// Whisper's closing timestamp still fall inside what is encoded.
const FRAMES_MARGIN: usize = 64;
/// Widths ggml's llamafile kernels take (`k % 16 == 0` with AVX-512).
const FRAMES_ALIGN: usize = 16;

/// How much of Whisper's 30 s encoder context a window of `samples` needs.
/// whisper.cpp otherwise encodes a full 30 s for every window, and the
/// encoder's cost grows faster than linearly with its context: fitting it
/// to the audio is the largest single speed-up (bench/RESULTS.md).
/// The context is rounded up to a multiple of [`FRAMES_ALIGN`]: attention
/// multiplies by a matrix as wide as the context, and ggml's blocked kernels
/// refuse a width that is not a multiple of 16, falling back to one dot
/// product at a time (Whisper's own 1500 is such a width).
fn encoder_frames(samples: usize, model_ctx: i32) -> i32 {
    let frames = (samples * FRAMES_PER_SECOND).div_ceil(TARGET_RATE as usize);
    let aligned = (frames + FRAMES_MARGIN).next_multiple_of(FRAMES_ALIGN);
    let aligned = i32::try_from(aligned).unwrap_or(i32::MAX);
    // A window too long to align keeps the model's whole context: slower,
    // but no audio is left out.
    aligned.min(model_ctx)
}

/// Whisper often closes its last segment up to this much before the
/// detector's region ends (measured on the samples: bench/RESULTS.md).
const END_SLACK: f64 = 0.3;

/// How much of a window whisper.cpp searches for speech. When its text ends
/// before the window does, it encodes the rest again from there, a whole
/// second encoder pass, and over a window's closing padding that pass only
/// finds Whisper's stock inventions. Ending the search where the speech
/// ends (less [`END_SLACK`]) skips it; the encoder still hears the padding.
fn searched_ms(samples: usize, tail: Seconds) -> i32 {
    let len = samples as f64 / TARGET_RATE as f64;
    let tail = if tail.0 > 0.0 {
        tail.0 + END_SLACK
    } else {
        0.0
    };
    // whisper.cpp skips anything shorter than 100 ms; keep a second.
    let searched = (len - tail).max(len.min(1.0));
    (searched * 1000.0).round() as i32
}

impl Recogniser for WhisperRecogniser {
    fn recognise(
        &self,
        pcm: &[f32],
        language: &str,
        tail: Seconds,
    ) -> Result<Vec<RawSegment>, String> {
        let pooled = self
            .states
            .lock()
            .map_err(|_| "state pool poisoned".to_string())?
            .pop();
        let mut state = match pooled {
            Some(s) => s,
            None => self.ctx.create_state().map_err(|e| e.to_string())?,
        };
        let strategy = match self.decoding {
            Decoding::Greedy => SamplingStrategy::Greedy { best_of: 1 },
            Decoding::Beam(n) => SamplingStrategy::BeamSearch {
                beam_size: n as i32,
                patience: -1.0,
            },
        };
        let mut p = FullParams::new(strategy);
        p.set_n_threads(self.threads as i32);
        p.set_language(Some(if language == "auto" { "auto" } else { language }));
        p.set_translate(false);
        // Windows are independent pieces of a call: carrying text over
        // between them feeds repetition loops.
        p.set_no_context(true);
        p.set_suppress_nst(true);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_special(false);
        p.set_print_timestamps(false);
        // whisper.cpp wants at least ~1 s; pad short windows with silence.
        let mut buf;
        let min_len = TARGET_RATE as usize * 11 / 10;
        let data = if pcm.len() < min_len {
            buf = pcm.to_vec();
            buf.resize(min_len, 0.0);
            &buf[..]
        } else {
            pcm
        };
        p.set_audio_ctx(encoder_frames(data.len(), self.ctx.n_audio_ctx()));
        p.set_duration_ms(searched_ms(data.len(), tail));
        let t0 = std::time::Instant::now();
        state.full(p, data).map_err(|e| e.to_string())?;
        if self.debug {
            eprintln!(
                "debug: window {:.1} s recognised in {:.2} s",
                data.len() as f64 / TARGET_RATE as f64,
                t0.elapsed().as_secs_f64()
            );
            self.ctx.print_timings();
        }
        let mut out = Vec::new();
        for seg in state.as_iter() {
            let text = seg.to_str_lossy().map_err(|e| e.to_string())?.into_owned();
            out.push(RawSegment {
                start: seg.start_timestamp() as f64 / 100.0,
                end: seg.end_timestamp() as f64 / 100.0,
                text,
            });
        }
        if let Ok(mut pool) = self.states.lock() {
            pool.push(state);
        }
        Ok(out)
    }

    fn identity(&self) -> ModelIdentity {
        self.identity.clone()
    }

    fn settings(&self) -> String {
        match self.decoding {
            Decoding::Greedy => "greedy".into(),
            Decoding::Beam(n) => format!("beam{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_stops_where_the_speech_ends() {
        let rate = TARGET_RATE as usize;
        // 0.4 s of padding after the last word: 0.7 s left unsearched.
        assert_eq!(searched_ms(20 * rate, Seconds(0.4)), 19_300);
        // Speech runs to the window's end: all of it is searched.
        assert_eq!(searched_ms(20 * rate, Seconds(0.0)), 20_000);
        // Never less than a second.
        assert_eq!(searched_ms(rate * 3 / 2, Seconds(1.0)), 1_000);
    }

    #[test]
    fn encoder_context_fits_the_window() {
        let rate = TARGET_RATE as usize;
        // 1400 + 64 = 1464 = 91.5 × 16 → 1472.
        assert_eq!(encoder_frames(28 * rate, 1500), 1472);
        // 55 + 64 = 119 → 128.
        assert_eq!(encoder_frames(rate * 11 / 10, 1500), 128);
        // Too long to align: the model's whole context, no audio left out.
        assert_eq!(encoder_frames(30 * rate, 1500), 1500);
        for seconds in 1..=28 {
            assert_eq!(encoder_frames(seconds * rate, 1500) % 16, 0);
        }
    }
}
