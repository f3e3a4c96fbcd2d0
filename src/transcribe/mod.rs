//! From a recording to a timed, speaker-attributed transcript: decode,
//! find speech per channel, pack it into recogniser windows, recognise,
//! map times back to the call and drop Whisper's known inventions.

pub mod cache;
pub mod guard;
pub mod whisper;

use crate::audio::{self, RegionParams, TARGET_RATE};
use crate::card::{Channels, Role};
use crate::transcript::{
    RecognitionInfo, Region, Segment, SourceInfo, Transcript, TRANSCRIPT_SCHEMA,
};
use crate::types::{Seconds, Span, Speaker};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A piece of text a recogniser heard, timed relative to its window.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSegment {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// Who the recognition came from, for results and the cache key.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelIdentity {
    pub name: String,
    pub sha256: String,
}

/// Speech recognition of one window of 16 kHz mono audio (≤ 30 s).
/// Behind a trait so tests and tools can substitute recorded output.
pub trait Recogniser: Send + Sync {
    /// `tail`: how much of the window's end is known to hold no speech (the
    /// padding after the last region), so it need not be searched again.
    fn recognise(
        &self,
        pcm: &[f32],
        language: &str,
        tail: Seconds,
    ) -> Result<Vec<RawSegment>, String>;
    fn identity(&self) -> ModelIdentity;
    /// Settings that change the text (decoding strategy…), for the cache key.
    fn settings(&self) -> String;
}

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error(transparent)]
    Audio(#[from] audio::AudioError),
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: recognition failed: {detail}", path.display())]
    Recognition { path: PathBuf, detail: String },
    #[error("{}: recognition took longer than the {} s limit per file (--file-timeout); {done:.0}% done", path.display(), limit.as_secs())]
    Timeout {
        path: PathBuf,
        limit: Duration,
        done: f64,
    },
}

/// Bumped whenever decoding, speech regions or packing change what a
/// transcript holds, so cached transcripts of the old pipeline are not reused.
pub const PIPELINE_VERSION: u32 = 6;

/// Everything that decides what a transcript says, besides the audio.
#[derive(Debug, Clone)]
pub struct Options {
    pub language: String,
    pub channels: Channels,
    /// Recognise only speech regions (the default) or whole channels.
    pub use_regions: bool,
    pub max_duration: f64,
    pub file_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            language: "ru".into(),
            channels: Channels::default(),
            use_regions: true,
            max_duration: 4.0 * 3600.0,
            file_timeout: Duration::from_secs(1800),
        }
    }
}

impl Options {
    /// The part of the cache key that comes from these options.
    pub fn key(&self) -> String {
        format!(
            "pipeline={PIPELINE_VERSION} lang={} left={:?} right={:?} regions={}",
            self.language, self.channels.left, self.channels.right, self.use_regions
        )
    }
}

/// Recogniser windows: short regions are packed together so each one does
/// not pay Whisper's fixed cost per window (the prompt, and the encoder's
/// context fitted to the window's length).
const WINDOW: f64 = 28.0;

/// One region's place in a window: `len` seconds at `packed` in the window
/// come from `orig` seconds into the call.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    packed: f64,
    orig: f64,
    len: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct Window {
    pieces: Vec<Piece>,
    len: f64,
}

impl Window {
    /// Maps a segment's window times back to call time. Pieces are laid end
    /// to end, so Whisper's coarse times often fall on or just past a seam.
    /// Within `edge` of a seam (the padding around each region, where nobody
    /// speaks) an end belongs to the piece before the seam and a start to
    /// the piece after it.
    fn span_to_call(&self, start: f64, end: f64, edge: f64) -> (f64, f64) {
        let at = |t: f64| {
            self.pieces
                .iter()
                .rposition(|p| p.packed <= t + 1e-6)
                .unwrap_or(0)
        };
        let within = |p: &Piece, t: f64| p.orig + (t - p.packed).clamp(0.0, p.len);
        let i = at(start);
        let s = match self.pieces.get(i + 1) {
            Some(next) if start >= next.packed - edge => next.orig,
            _ => within(&self.pieces[i], start),
        };
        let j = at(end);
        let e = match j.checked_sub(1).map(|k| &self.pieces[k]) {
            Some(prev) if end <= self.pieces[j].packed + edge => prev.orig + prev.len,
            _ => within(&self.pieces[j], end),
        };
        (s, e.max(s))
    }

    /// Silence after the last speech in `speech` (a channel's tight regions)
    /// that ends inside this window; none if speech runs past its end.
    fn tail(&self, speech: &[Span]) -> Seconds {
        let Some(last) = self.pieces.last() else {
            return Seconds(0.0);
        };
        let end = last.orig + last.len;
        let spoke = speech
            .iter()
            .filter(|s| s.start.0 < end && s.end.0 > last.orig)
            .map(|s| s.end.0)
            .fold(f64::NEG_INFINITY, f64::max);
        Seconds(if spoke.is_finite() {
            (end - spoke).max(0.0)
        } else {
            0.0
        })
    }
}

fn pack(regions: &[Span]) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    let mut cur = Window {
        pieces: vec![],
        len: 0.0,
    };
    for r in regions {
        let mut orig = r.start.0;
        let end = r.end.0;
        while end - orig > 1e-3 {
            // Pieces are laid end to end: their padding already parts them.
            let at = cur.len;
            // A region that does not fit starts the next window rather than
            // being cut mid-word; only regions longer than a window are split.
            if at + (end - orig) > WINDOW && !cur.pieces.is_empty() {
                out.push(std::mem::replace(
                    &mut cur,
                    Window {
                        pieces: vec![],
                        len: 0.0,
                    },
                ));
                continue;
            }
            let len = (end - orig).min(WINDOW);
            cur.pieces.push(Piece {
                packed: at,
                orig,
                len,
            });
            cur.len = at + len;
            orig += len;
        }
    }
    if !cur.pieces.is_empty() {
        out.push(cur);
    }
    out
}

fn window_pcm(w: &Window, pcm: &[f32]) -> Vec<f32> {
    let sr = TARGET_RATE as f64;
    let mut out = vec![0.0f32; (w.len * sr).ceil() as usize];
    for p in &w.pieces {
        let src = (p.orig * sr) as usize;
        let dst = (p.packed * sr) as usize;
        let n = ((p.len * sr) as usize)
            .min(pcm.len().saturating_sub(src))
            .min(out.len() - dst);
        out[dst..dst + n].copy_from_slice(&pcm[src..src + n]);
    }
    out
}

fn role_speaker(r: Role) -> Speaker {
    match r {
        Role::Agent => Speaker::Agent,
        Role::Customer => Speaker::Customer,
    }
}

/// Transcribes one file (no cache; see [`cache`] for that).
pub fn transcribe_file(
    path: &Path,
    display: &str,
    sha256: &str,
    rec: &dyn Recogniser,
    opts: &Options,
) -> Result<Transcript, TranscribeError> {
    let started = Instant::now();
    let audio = audio::decode(path, opts.max_duration)?;
    let duration = audio.duration();
    let stereo = audio.channels.len() == 2;
    let speakers: Vec<Speaker> = if stereo {
        vec![
            role_speaker(opts.channels.left),
            role_speaker(opts.channels.right),
        ]
    } else {
        vec![Speaker::Unknown]
    };
    let mut warnings = audio.warnings.clone();
    let mut regions = Vec::new();
    let mut channel_jobs = Vec::new();
    let params = RegionParams::default();
    for (ch, samples) in audio.channels.iter().enumerate() {
        let pcm = audio::resample(samples, audio.sample_rate, TARGET_RATE);
        let total = pcm.len() as f64 / TARGET_RATE as f64;
        // Regions are measured either way: the conversation metrics need them.
        let spans = audio::speech_regions(&pcm, TARGET_RATE, &params);
        regions.extend(spans.iter().map(|s| Region {
            speaker: speakers[ch],
            span: *s,
        }));
        // An empty channel gives a zero-length span, which packs into no window.
        let to_recognise = if opts.use_regions {
            audio::recognition_spans(&spans, &params, WINDOW, total)
        } else {
            vec![Span::new(0.0, total)]
        };
        let windows: Vec<(Window, Seconds)> = pack(&to_recognise)
            .into_iter()
            .map(|w| {
                let tail = w.tail(&spans);
                (w, tail)
            })
            .collect();
        channel_jobs.push((speakers[ch], pcm, windows));
    }
    // Every window of every channel is independent: recognise them in
    // parallel, so one long call keeps all workers busy. This runs on the
    // caller's rayon pool, which `batch::Runner` sizes to `--jobs`, so no
    // more recognisers run at once than the cores were split for.
    let jobs: Vec<(Speaker, &[f32], &Window, Seconds)> = channel_jobs
        .iter()
        .flat_map(|(speaker, pcm, windows)| {
            windows
                .iter()
                .map(move |(w, tail)| (*speaker, &pcm[..], w, *tail))
        })
        .collect();
    let done = AtomicUsize::new(0);
    let recognised: Vec<Vec<Segment>> = jobs
        .par_iter()
        .map(|&(speaker, pcm, w, tail)| {
            if started.elapsed() > opts.file_timeout {
                return Err(TranscribeError::Timeout {
                    path: display.into(),
                    limit: opts.file_timeout,
                    done: done.load(Ordering::Relaxed) as f64 * 100.0 / jobs.len().max(1) as f64,
                });
            }
            let raw = rec
                .recognise(&window_pcm(w, pcm), &opts.language, tail)
                .map_err(|detail| TranscribeError::Recognition {
                    path: display.into(),
                    detail,
                })?;
            done.fetch_add(1, Ordering::Relaxed);
            Ok(raw
                .into_iter()
                .map(|s| {
                    let (start, end) = w.span_to_call(s.start, s.end, params.pad);
                    Segment {
                        start: Seconds(start),
                        end: Seconds(end),
                        speaker,
                        text: s.text.trim().to_string(),
                    }
                })
                .collect())
        })
        .collect::<Result<_, _>>()?;
    let segments: Vec<Segment> = recognised.into_iter().flatten().collect();
    let (segments, dropped) = guard::clean(segments);
    warnings.extend(dropped);
    let mut segments = segments;
    segments.sort_by(|a, b| a.start.0.total_cmp(&b.start.0));
    regions.sort_by(|a, b| a.span.start.0.total_cmp(&b.span.start.0));
    let id = rec.identity();
    Ok(Transcript {
        schema: TRANSCRIPT_SCHEMA.into(),
        source: SourceInfo {
            path: display.to_string(),
            sha256: sha256.to_string(),
            duration: Seconds(duration),
            channels: audio.channels.len() as u16,
            sample_rate: audio.sample_rate,
            codec: audio.codec,
        },
        recognition: Some(RecognitionInfo {
            model: id.name,
            model_sha256: id.sha256,
            language: opts.language.clone(),
            settings: format!("{}; {}", rec.settings(), opts.key()),
        }),
        regions,
        segments,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_regions_into_windows_and_maps_back() {
        let regions = [
            Span::new(1.0, 3.0),
            Span::new(10.0, 12.0),
            Span::new(20.0, 45.0),
            Span::new(50.0, 85.0),
        ];
        let ws = pack(&regions);
        let shapes: Vec<Vec<f64>> = ws
            .iter()
            .map(|w| w.pieces.iter().map(|p| p.len).collect())
            .collect();
        // 25 s does not fit after the first two: it starts the next window
        // whole; only the 35 s region, longer than a window, is split.
        assert_eq!(shapes, [vec![2.0, 2.0], vec![25.0], vec![28.0], vec![7.0]]);
        let call = |w: &Window, a: f64, b: f64| w.span_to_call(a, b, 0.0);
        assert_eq!(call(&ws[0], 0.5, 1.5), (1.5, 2.5));
        assert_eq!(call(&ws[0], 2.5, 3.0), (10.5, 11.0));
        assert_eq!(call(&ws[3], 1.0, 7.0), (79.0, 85.0));
        assert!(ws.iter().all(|w| w.len <= WINDOW + 1e-9));
        assert!(pack(&[Span::new(0.0, 0.0)]).is_empty());
    }

    #[test]
    fn a_window_knows_the_silence_after_its_last_words() {
        let speech = [Span::new(1.0, 3.0), Span::new(5.0, 40.0)];
        let ws = pack(&[Span::new(0.6, 3.4), Span::new(4.6, 40.0)]);
        let tails: Vec<f64> = ws.iter().map(|w| w.tail(&speech).0).collect();
        // The first region's padding; then a long region split at 28 s runs
        // past its window's end, and to the end of the recording.
        assert_eq!(ws.len(), 3);
        assert!((tails[0] - 0.4).abs() < 1e-9, "{tails:?}");
        assert_eq!(&tails[1..], [0.0, 0.0]);
    }

    #[test]
    fn times_near_a_seam_go_to_the_side_that_was_spoken() {
        // Two padded regions laid end to end: call 1–3 s and 10–12 s.
        let ws = pack(&[Span::new(1.0, 3.0), Span::new(10.0, 12.0)]);
        let w = &ws[0];
        // A segment ending on the seam, or just past it, ends the first region.
        assert_eq!(w.span_to_call(0.0, 2.0, 0.4), (1.0, 3.0));
        assert_eq!(w.span_to_call(0.0, 2.3, 0.4), (1.0, 3.0));
        // One starting just before the seam starts the second.
        assert_eq!(w.span_to_call(1.8, 3.5, 0.4), (10.0, 11.5));
        // Away from the seam times map straight through.
        assert_eq!(w.span_to_call(0.5, 1.5, 0.4), (1.5, 2.5));
        assert_eq!(w.span_to_call(2.5, 4.0, 0.4), (10.5, 12.0));
    }
}
