//! Band-limited resampling to the recogniser's rate (rubato's FFT
//! resampler): dropping or repeating samples would alias telephone audio.

use rubato::{FftFixedInOut, Resampler};

pub const TARGET_RATE: u32 = 16_000;

/// Resamples one channel from `from` Hz to `to` Hz, keeping its duration.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let Ok(mut r) = FftFixedInOut::<f32>::new(from as usize, to as usize, 1024, 1) else {
        return input.to_vec();
    };
    let want = (input.len() as u64 * to as u64).div_ceil(from as u64) as usize;
    let delay = r.output_delay();
    let mut out = Vec::with_capacity(want + delay + r.output_frames_max());
    let chunk = r.input_frames_next();
    let mut pos = 0;
    // Feed zeros past the end to flush the filter's delay.
    while out.len() < want + delay {
        let mut block = vec![0.0f32; chunk];
        let take = input.len().saturating_sub(pos).min(chunk);
        if take > 0 {
            block[..take].copy_from_slice(&input[pos..pos + take]);
        }
        pos += chunk;
        match r.process(&[block], None) {
            Ok(mut o) => out.append(&mut o[0]),
            Err(_) => break,
        }
    }
    out.drain(..delay.min(out.len()));
    out.truncate(want);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duration_and_tone() {
        let sr = 8000;
        let tone: Vec<f32> = (0..sr)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / sr as f32).sin() * 0.5)
            .collect();
        let out = resample(&tone, sr, 16_000);
        assert_eq!(out.len(), 16_000);
        // Same tone at the new rate, away from the edges.
        for i in (2000..14000).step_by(997) {
            let want = (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin() * 0.5;
            assert!(
                (out[i] - want).abs() < 0.02,
                "sample {i}: {} vs {want}",
                out[i]
            );
        }
    }
}
