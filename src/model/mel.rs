//! Slaney-style mel filter bank, as `librosa.filters.mel(sr, n_fft, n_mels)` builds it
//! with its defaults (`fmin = 0`, `fmax = sr / 2`, `htk = False`, `norm = "slaney"`).
//!
//! whisper.cpp reads the bank from the model file instead of computing it, so a converted
//! model must carry the same numbers as OpenAI's `mel_filters.npz`. The arithmetic below
//! follows librosa step by step (f64 maths, the same two roundings to f32) so that the
//! result is bit-identical to that file, not merely close.

/// Hz → mel on the Slaney scale: linear below 1 kHz, logarithmic above.
fn hz_to_mel(hz: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

/// Inverse of [`hz_to_mel`].
fn mel_to_hz(mel: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// `numpy.linspace(start, stop, n)`: `i * step + start`, with the last point pinned to `stop`.
fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

/// `numpy.maximum` / `numpy.minimum` keep the second operand when the two compare equal,
/// which decides the sign of zero; mirrored so the output matches the reference bit for bit.
fn np_max(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

fn np_min(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// Row-major `n_mels × (n_fft / 2 + 1)` filter bank.
pub(crate) fn mel_filters(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_freqs = n_fft / 2 + 1;
    let fft_freqs = linspace(0.0, f64::from(sample_rate) / 2.0, n_freqs);
    let mel_points = linspace(
        hz_to_mel(0.0),
        hz_to_mel(f64::from(sample_rate) / 2.0),
        n_mels + 2,
    );
    let mel_f: Vec<f64> = mel_points.into_iter().map(mel_to_hz).collect();
    let fdiff: Vec<f64> = mel_f.windows(2).map(|w| w[1] - w[0]).collect();

    let mut weights = Vec::with_capacity(n_mels * n_freqs);
    for i in 0..n_mels {
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for &f in &fft_freqs {
            let lower = -(mel_f[i] - f) / fdiff[i];
            let upper = (mel_f[i + 2] - f) / fdiff[i + 1];
            // librosa stores the triangle into an f32 array first and normalises in place,
            // so the value is rounded to f32 twice.
            let tri = np_max(0.0, np_min(lower, upper)) as f32;
            weights.push((f64::from(tri) * enorm) as f32);
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_openai_reference_values() {
        let w = mel_filters(16000, 400, 80);
        assert_eq!(w.len(), 80 * 201);
        // Spot values taken from whisper/assets/mel_filters.npz (mel_80), compared bitwise.
        let known: [(usize, usize, u32); 10] = [
            (0, 0, 0x8000_0000), // -0.0: numpy's tie rule, kept on purpose
            (0, 1, 0x3ccb_aca4),
            (1, 1, 0x3b02_7873),
            (5, 6, 0x3c74_42b7),
            (20, 19, 0x3c33_c4be),
            (40, 43, 0x3c71_6d72),
            (60, 91, 0x3b61_8613),
            (79, 190, 0x3b12_47ab),
            (40, 60, 0),
            (79, 0, 0),
        ];
        for (m, f, bits) in known {
            let got = w[m * 201 + f];
            assert_eq!(got.to_bits(), bits, "filter[{m}][{f}] = {got:e}");
        }
    }

    #[test]
    fn each_filter_is_a_normalised_triangle() {
        let w = mel_filters(16000, 400, 80);
        for row in w.chunks(201) {
            assert!(row.iter().all(|&x| x >= 0.0));
            assert!(row.iter().any(|&x| x > 0.0));
        }
        // The reference bank has 391 non-zero weights summing to about 1.999.
        assert_eq!(w.iter().filter(|&&x| x != 0.0).count(), 391);
        let sum: f64 = w.iter().map(|&x| f64::from(x)).sum();
        assert!((sum - 1.999_024_092).abs() < 1e-6, "sum {sum}");
    }
}
