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

/// Least encoder context for the rest of a window (10.24 s, a multiple of
/// [`FRAMES_ALIGN`]). With a context fitted to a rest of a second or two,
/// Whisper changed the words of all three such rests in the samples; with
/// 10 s they are those of whisper.cpp's own second pass, which encodes the
/// window's whole context again.
const REST_MIN_FRAMES: i32 = 512;

/// Encoder context for the rest of a `samples`-long window from `from_ms`.
fn rest_frames(samples: usize, from_ms: i32, window_frames: i32) -> i32 {
    let from = usize::try_from(from_ms).unwrap_or(0) * TARGET_RATE as usize / 1000;
    encoder_frames(samples.saturating_sub(from), window_frames)
        .max(REST_MIN_FRAMES)
        .min(window_frames)
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

/// What whisper.cpp's encoder callback saw during one `full` call.
#[derive(Default)]
struct Passes {
    begun: u32,
    /// Where the text of the first pass ends (centiseconds into the audio),
    /// when whisper.cpp asked for another pass and was refused.
    rest_from: Option<i64>,
}

/// whisper.cpp's encoder callback: let the first pass through and refuse
/// the next, noting where the text so far ends. A later pass encodes the
/// window's whole context again from there, however little audio is left;
/// callqa searches that rest itself, with a context fitted to it.
unsafe extern "C" fn first_pass_only(
    _ctx: *mut whisper_rs_sys::whisper_context,
    state: *mut whisper_rs_sys::whisper_state,
    user: *mut std::ffi::c_void,
) -> bool {
    // SAFETY: `user` is the `Passes` that `pass` hands to whisper.cpp and
    // keeps alive and otherwise untouched until `full` returns.
    let passes = unsafe { &mut *user.cast::<Passes>() };
    passes.begun += 1;
    if passes.begun == 1 {
        return true;
    }
    // SAFETY: whisper.cpp calls back with the state `full` is working on.
    let n = unsafe { whisper_rs_sys::whisper_full_n_segments_from_state(state) };
    if n == 0 {
        // Nothing recognised yet: no end to start the rest from.
        return true;
    }
    // SAFETY: `n - 1` is a segment index of that state.
    passes.rest_from =
        Some(unsafe { whisper_rs_sys::whisper_full_get_segment_t1_from_state(state, n - 1) });
    false
}

impl WhisperRecogniser {
    fn params<'a>(&self, language: &'a str) -> FullParams<'a, 'a> {
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
        p
    }

    /// One `full` call over the window `data`, searching `from_ms..end_ms`
    /// with an encoder context of `frames`: its segments (times from the
    /// window's start), and where whisper.cpp wanted to search again from,
    /// if it did.
    fn pass(
        &self,
        state: &mut WhisperState,
        data: &[f32],
        language: &str,
        (from_ms, end_ms): (i32, i32),
        frames: i32,
    ) -> Result<(Vec<RawSegment>, Option<i32>), String> {
        let mut p = self.params(language);
        p.set_audio_ctx(frames);
        p.set_offset_ms(from_ms);
        p.set_duration_ms(end_ms - from_ms);
        let mut passes = Passes::default();
        // SAFETY: `passes` outlives `full`, the only caller of the callback.
        unsafe {
            p.set_start_encoder_callback(Some(first_pass_only));
            p.set_start_encoder_callback_user_data((&raw mut passes).cast());
        }
        let t0 = std::time::Instant::now();
        state.full(p, data).map_err(|e| e.to_string())?;
        if self.debug {
            eprintln!(
                "debug: window {:.1} s from {:.1} s recognised in {:.2} s",
                data.len() as f64 / TARGET_RATE as f64,
                f64::from(from_ms) / 1000.0,
                t0.elapsed().as_secs_f64()
            );
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
        let rest_from = passes
            .rest_from
            .map(|cs| i32::try_from(cs * 10).unwrap_or(i32::MAX));
        Ok((out, rest_from))
    }
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
        let end_ms = searched_ms(data.len(), tail);
        let window_frames = encoder_frames(data.len(), self.ctx.n_audio_ctx());
        let mut out = Vec::new();
        let (mut from_ms, mut frames, mut language) = (0, window_frames, language);
        loop {
            let (segments, rest_from) =
                self.pass(&mut state, data, language, (from_ms, end_ms), frames)?;
            out.extend(segments);
            if language == "auto" {
                // The rest is in the language found for the whole window.
                language =
                    whisper_rs::get_lang_str(state.full_lang_id_from_state()).unwrap_or("auto");
            }
            // The rest whisper.cpp wanted to search again, searched with a
            // context fitted to it: the same spectrogram, so the same text
            // its own second pass finds, for a fraction of the encoding.
            match rest_from {
                Some(t) if t > from_ms && t < end_ms => {
                    from_ms = t;
                    frames = rest_frames(data.len(), from_ms, window_frames);
                }
                _ => break,
            }
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
    fn rest_context_is_fitted_but_never_tiny() {
        let rate = TARGET_RATE as usize;
        let window = encoder_frames(26 * rate, 1500);
        // 1 s left of a 26 s window: 10.24 s of context, not 26 s.
        assert_eq!(rest_frames(26 * rate, 25_000, window), REST_MIN_FRAMES);
        // 14 s left: fitted to it (700 + 64 → 768).
        assert_eq!(rest_frames(26 * rate, 12_000, window), 768);
        // A short window's rest never gets more context than the window had.
        let short = encoder_frames(6 * rate, 1500);
        assert_eq!(rest_frames(6 * rate, 5_000, short), short);
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
