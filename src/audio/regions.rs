//! Speech regions per channel: an adaptive energy detector. On a call
//! recording each channel is silent (or line hiss) much of the time, and
//! Whisper invents text in silence, so only these regions are recognised.

use crate::types::Span;

#[derive(Debug, Clone, Copy)]
pub struct RegionParams {
    /// Analysis frame, seconds.
    pub frame: f64,
    /// How far above the channel's noise floor speech must be, dB.
    pub margin_db: f32,
    /// Absolute floor: quieter than this is never speech, dBFS.
    pub min_db: f32,
    /// Pauses shorter than this stay inside one region, seconds.
    pub bridge: f64,
    /// Regions shorter than this are clicks, seconds.
    pub min_len: f64,
    /// Padding [`recognition_spans`] adds on each side, seconds.
    pub pad: f64,
    /// Pauses shorter than this between padded regions are recognised as
    /// recorded rather than cut out, seconds.
    pub keep_pause: f64,
}

impl Default for RegionParams {
    fn default() -> Self {
        RegionParams {
            frame: 0.02,
            margin_db: 12.0,
            min_db: -55.0,
            bridge: 0.5,
            min_len: 0.15,
            pad: 0.4,
            keep_pause: 2.0,
        }
    }
}

/// Finds speech in one channel of `rate` Hz samples.
pub fn speech_regions(samples: &[f32], rate: u32, p: &RegionParams) -> Vec<Span> {
    let flen = ((rate as f64 * p.frame) as usize).max(1);
    let db: Vec<f32> = samples
        .chunks(flen)
        .map(|f| {
            let e = f.iter().map(|x| x * x).sum::<f32>() / f.len() as f32;
            10.0 * (e + 1e-12).log10()
        })
        .collect();
    if db.is_empty() {
        return Vec::new();
    }
    // The noise floor is what the quietest tenth of the call sounds like.
    let mut sorted = db.clone();
    sorted.sort_by(f32::total_cmp);
    let floor = sorted[sorted.len() / 10];
    let threshold = (floor + p.margin_db).max(p.min_db);

    let fsec = flen as f64 / rate as f64;
    let total = samples.len() as f64 / rate as f64;
    let mut raw: Vec<Span> = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &d) in db
        .iter()
        .chain(std::iter::once(&f32::NEG_INFINITY))
        .enumerate()
    {
        match (d > threshold, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                raw.push(Span::new(s as f64 * fsec, (i as f64 * fsec).min(total)));
                start = None;
            }
            _ => {}
        }
    }
    let mut merged: Vec<Span> = Vec::new();
    for r in raw {
        match merged.last_mut() {
            Some(last) if r.start.0 - last.end.0 < p.bridge => last.end = r.end,
            _ => merged.push(r),
        }
    }
    merged.retain(|r| r.len().0 >= p.min_len);
    merged
}

/// What the recogniser hears of a channel: regions widened by `p.pad` on
/// each side, so it hears the word edges the energy detector cut off, and
/// joined across pauses under `p.keep_pause` while the joined span stays
/// within `max_len`. Whisper recognises a turn better with its own pauses
/// and some air around it, as faster-whisper's VAD gives it (bench/RESULTS.md).
/// Metrics use the tight regions.
pub fn recognition_spans(
    regions: &[Span],
    p: &RegionParams,
    max_len: f64,
    total: f64,
) -> Vec<Span> {
    let padded = regions
        .iter()
        .map(|r| Span::new((r.start.0 - p.pad).max(0.0), (r.end.0 + p.pad).min(total)));
    let touching = join(padded, |last, r| r.start.0 <= last.end.0);
    join(touching, |last, r| {
        r.start.0 - last.end.0 < p.keep_pause && r.end.0 - last.start.0 <= max_len
    })
}

/// Extends the last span over the next one wherever `joins` says so.
fn join(spans: impl IntoIterator<Item = Span>, joins: impl Fn(&Span, &Span) -> bool) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for r in spans {
        match out.last_mut() {
            Some(last) if joins(last, &r) => last.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, amp: f32, seed: &mut u32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (*seed as f32 / u32::MAX as f32 - 0.5) * amp
            })
            .collect()
    }

    #[test]
    fn finds_tone_bursts_in_hiss() {
        let rate = 16_000;
        let mut seed = 7;
        let mut s = noise(rate as usize * 10, 0.002, &mut seed);
        for (a, b) in [(2.0, 3.5), (6.0, 6.8)] {
            let (from, to) = ((a * rate as f64) as usize, (b * rate as f64) as usize);
            for (i, x) in s.iter_mut().enumerate().take(to).skip(from) {
                *x += (i as f32 * 0.1).sin() * 0.3;
            }
        }
        let r = speech_regions(&s, rate, &RegionParams::default());
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(
            (r[0].start.0 - 2.0).abs() < 0.03 && (r[0].end.0 - 3.5).abs() < 0.03,
            "{r:?}"
        );
        assert!(
            (r[1].start.0 - 6.0).abs() < 0.03 && (r[1].end.0 - 6.8).abs() < 0.03,
            "{r:?}"
        );
        let p = RegionParams {
            keep_pause: 0.0,
            ..RegionParams::default()
        };
        let spans = recognition_spans(&r, &p, 28.0, 10.0);
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert!((spans[0].start.0 - 1.6).abs() < 0.03 && (spans[1].end.0 - 7.2).abs() < 0.03);
    }

    #[test]
    fn short_pauses_are_kept_while_the_span_fits() {
        let p = RegionParams {
            pad: 0.5,
            keep_pause: 2.0,
            ..RegionParams::default()
        };
        let r = [
            Span::new(1.0, 2.0),
            // 1.0 s apart once padded: joined, pause and all.
            Span::new(4.0, 5.0),
            // 2.0 s apart once padded: a pause too long to keep.
            Span::new(8.0, 9.0),
            // 0.5 s apart, but joining would pass `max_len`.
            Span::new(10.5, 16.0),
            // Overlapping once padded: always joined.
            Span::new(16.8, 17.0),
        ];
        let spans: Vec<(f64, f64)> = recognition_spans(&r, &p, 8.0, 20.0)
            .iter()
            .map(|s| (s.start.0, s.end.0))
            .collect();
        assert_eq!(spans, [(0.5, 5.5), (7.5, 9.5), (10.0, 17.5)]);
    }

    #[test]
    fn silence_and_empty_have_no_regions() {
        assert!(speech_regions(&[], 16_000, &RegionParams::default()).is_empty());
        assert!(speech_regions(&vec![0.0; 16_000], 16_000, &RegionParams::default()).is_empty());
    }
}
