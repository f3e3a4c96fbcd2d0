//! whisper.cpp's ggml model file: writer, quantisers and a header walker.
//!
//! Layout: magic, 11 `i32` hyper-parameters, the mel filter bank, the vocabulary, then
//! tensors back to back (`n_dims`, name length, type, dims fastest-first, name, data).
//! The block formats follow ggml's quantisers (`quantize_row_q8_0_ref`, `quantize_row_q5_1_ref`,
//! and `quantize_iq4_nl` without an importance matrix), so files are byte for byte what ggml
//! itself writes.

use std::io::{self, Read, Write};
use std::path::Path;

use half::{bf16, f16};

use super::{HParams, ModelError};

pub(crate) const MAGIC: u32 = 0x6767_6d6c;
/// Values per block for q8_0, q5_1 and iq4_nl.
pub(crate) const QK: usize = 32;
/// whisper.cpp stores `GGML_QNT_VERSION * 1000 + ftype` as the ftype of quantised files.
pub(crate) const QNT_VERSION_FACTOR: i32 = 1000;
pub(crate) const QNT_VERSION: i32 = 2;

/// Storage types the importer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    F32,
    F16,
    Q8_0,
    Q5_1,
    Iq4Nl,
}

impl Target {
    pub(crate) fn type_id(self) -> i32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
            Self::Iq4Nl => 20,
        }
    }
}

/// Size facts of a ggml tensor type, enough to walk a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TypeInfo {
    pub(crate) name: &'static str,
    block: usize,
    block_bytes: usize,
}

pub(crate) fn type_info(id: i32) -> Option<TypeInfo> {
    let (name, block, block_bytes) = match id {
        0 => ("f32", 1, 4),
        1 => ("f16", 1, 2),
        2 => ("q4_0", 32, 18),
        3 => ("q4_1", 32, 20),
        6 => ("q5_0", 32, 22),
        7 => ("q5_1", 32, 24),
        8 => ("q8_0", 32, 34),
        10 => ("q2_k", 256, 84),
        11 => ("q3_k", 256, 110),
        12 => ("q4_k", 256, 144),
        13 => ("q5_k", 256, 176),
        14 => ("q6_k", 256, 210),
        20 => ("iq4_nl", 32, 18),
        30 => ("bf16", 1, 2),
        _ => return None,
    };
    Some(TypeInfo {
        name,
        block,
        block_bytes,
    })
}

/// Source values of one tensor: raw little-endian bytes of a float type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Floats<'a> {
    F32(&'a [u8]),
    F16(&'a [u8]),
    BF16(&'a [u8]),
}

impl Floats<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::F32(b) => b.len() / 4,
            Self::F16(b) | Self::BF16(b) => b.len() / 2,
        }
    }

    /// Decodes values `start..start + out.len()` into `out`.
    fn decode(&self, start: usize, out: &mut [f32]) {
        match self {
            Self::F32(b) => {
                for (o, c) in out.iter_mut().zip(b[start * 4..].chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            Self::F16(b) => {
                for (o, c) in out.iter_mut().zip(b[start * 2..].chunks_exact(2)) {
                    *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
                }
            }
            Self::BF16(b) => {
                for (o, c) in out.iter_mut().zip(b[start * 2..].chunks_exact(2)) {
                    *o = bf16::from_le_bytes([c[0], c[1]]).to_f32();
                }
            }
        }
    }
}

/// Encodes `data` as `target` into `w`. Quantised targets need a length multiple of 32.
pub(crate) fn write_data<W: Write>(w: &mut W, data: Floats<'_>, target: Target) -> io::Result<()> {
    if let (Target::F16, Floats::F16(bytes)) = (target, data) {
        return w.write_all(bytes);
    }
    // Work in slices of a few thousand values: one decode buffer, no whole-tensor copy.
    const CHUNK: usize = 64 * QK;
    let mut vals = [0f32; CHUNK];
    let mut out = Vec::with_capacity(CHUNK * 4);
    let n = data.len();
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        let vals = &mut vals[..len];
        data.decode(start, vals);
        out.clear();
        match target {
            Target::F32 => vals.iter().for_each(|v| out.extend(v.to_le_bytes())),
            Target::F16 => vals
                .iter()
                .for_each(|v| out.extend(f16::from_f32(*v).to_le_bytes())),
            Target::Q8_0 | Target::Q5_1 | Target::Iq4Nl => {
                if len % QK != 0 {
                    return Err(io::Error::other(
                        "quantised tensor length is not a multiple of 32",
                    ));
                }
                for block in vals.chunks_exact(QK) {
                    match target {
                        Target::Q8_0 => out.extend(quantize_q8_0(block)),
                        Target::Q5_1 => out.extend(quantize_q5_1(block)),
                        _ => out.extend(quantize_iq4_nl(block)),
                    }
                }
            }
        }
        w.write_all(&out)?;
        start += len;
    }
    Ok(())
}

/// One q8_0 block: f16 scale `d = max|x| / 127`, then 32 × `i8` of `round(x / d)`.
pub(crate) fn quantize_q8_0(x: &[f32]) -> [u8; 34] {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut out = [0u8; 34];
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    for (o, v) in out[2..].iter_mut().zip(x) {
        // `f32::round` rounds half away from zero, like C's `roundf`.
        *o = ((v * id).round() as i8) as u8;
    }
    out
}

/// One q5_1 block: f16 `d = (max - min) / 31`, f16 `m = min`, `u32` of fifth bits
/// (bit j for value j, bit j + 16 for value j + 16), then 16 bytes whose low nibble is
/// value j and high nibble value j + 16.
pub(crate) fn quantize_q5_1(x: &[f32]) -> [u8; 24] {
    let (min, max) = x
        .iter()
        .fold((f32::MAX, -f32::MAX), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut out = [0u8; 24];
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    out[2..4].copy_from_slice(&f16::from_f32(min).to_le_bytes());
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        // Truncating `+ 0.5` (not `round`) is what the reference quantiser does.
        let lo = ((x[j] - min) * id + 0.5) as u8;
        let hi = ((x[j + QK / 2] - min) * id + 0.5) as u8;
        out[8 + j] = (lo & 0x0f) | ((hi & 0x0f) << 4);
        qh |= u32::from((lo & 0x10) >> 4) << j;
        qh |= u32::from((hi & 0x10) >> 4) << (j + QK / 2);
    }
    out[4..8].copy_from_slice(&qh.to_le_bytes());
    out
}

/// The sixteen levels of iq4_nl, a non-uniform grid denser near zero, where most weights are.
const IQ4_NL_LEVELS: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Index of the level nearest `x` (ties to the upper one, as ggml's `best_index_int8`).
fn nearest_iq4_level(x: f32) -> u8 {
    let v = &IQ4_NL_LEVELS;
    if x <= f32::from(v[0]) {
        return 0;
    }
    if x >= f32::from(v[15]) {
        return 15;
    }
    let mu = v.partition_point(|&l| f32::from(l) <= x);
    if x - f32::from(v[mu - 1]) < f32::from(v[mu]) - x {
        (mu - 1) as u8
    } else {
        mu as u8
    }
}

/// One iq4_nl block: f16 scale, then 16 bytes of level indices packed like q4_0. The scale
/// is the least-squares fit (weighted by `x²`) over 15 candidate grids, as ggml's
/// `quantize_iq4_nl` without an importance matrix.
pub(crate) fn quantize_iq4_nl(x: &[f32]) -> [u8; 18] {
    const TRIES: i32 = 7;
    let max = x
        .iter()
        .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
    // Weighted sums of q·x and q² for the grid of inverse scale `id`.
    let fit = |id: f32| {
        x.iter().fold((0f32, 0f32), |(qx, q2), &v| {
            let q = f32::from(IQ4_NL_LEVELS[usize::from(nearest_iq4_level(id * v))]);
            let w = v * v;
            (qx + w * q * v, q2 + w * q * q)
        })
    };
    let first = f32::from(IQ4_NL_LEVELS[0]);
    let d = if max.abs() < 1e-15 {
        0.0
    } else {
        let (qx, q2) = fit(first / -max);
        let mut d = qx / q2;
        let mut best = d * qx;
        for t in -TRIES..=TRIES {
            let (qx, q2) = fit((t as f32 + first) / max);
            if q2 > 0.0 && qx * qx > best * q2 {
                d = qx / q2;
                best = d * qx;
            }
        }
        d
    };
    let mut out = [0u8; 18];
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    for j in 0..QK / 2 {
        out[2 + j] = nearest_iq4_level(id * x[j]) | (nearest_iq4_level(id * x[j + QK / 2]) << 4);
    }
    out
}

#[cfg(test)]
fn dequantize_q8_0(b: &[u8; 34]) -> Vec<f32> {
    let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
    b[2..].iter().map(|&q| f32::from(q as i8) * d).collect()
}

#[cfg(test)]
fn dequantize_q5_1(b: &[u8; 24]) -> Vec<f32> {
    let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
    let m = f16::from_le_bytes([b[2], b[3]]).to_f32();
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let mut out = vec![0f32; QK];
    for j in 0..QK / 2 {
        let lo = (b[8 + j] & 0x0f) | ((((qh >> j) & 1) as u8) << 4);
        let hi = (b[8 + j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
        out[j] = f32::from(lo) * d + m;
        out[j + 16] = f32::from(hi) * d + m;
    }
    out
}

pub(crate) fn write_hparams<W: Write>(w: &mut W, hp: &HParams) -> io::Result<()> {
    w.write_all(&MAGIC.to_le_bytes())?;
    for v in [
        hp.n_vocab,
        hp.n_audio_ctx,
        hp.n_audio_state,
        hp.n_audio_head,
        hp.n_audio_layer,
        hp.n_text_ctx,
        hp.n_text_state,
        hp.n_text_head,
        hp.n_text_layer,
        hp.n_mels,
        hp.ftype,
    ] {
        w.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

pub(crate) fn write_filters<W: Write>(
    w: &mut W,
    n_mel: i32,
    n_bins: i32,
    data: &[f32],
) -> io::Result<()> {
    w.write_all(&n_mel.to_le_bytes())?;
    w.write_all(&n_bins.to_le_bytes())?;
    data.iter().try_for_each(|v| w.write_all(&v.to_le_bytes()))
}

pub(crate) fn write_vocab<W: Write>(w: &mut W, tokens: &[Vec<u8>]) -> io::Result<()> {
    w.write_all(&len_i32(tokens.len())?.to_le_bytes())?;
    for t in tokens {
        w.write_all(&len_i32(t.len())?.to_le_bytes())?;
        w.write_all(t)?;
    }
    Ok(())
}

/// `ne` is in ggml order (fastest-varying first), i.e. the PyTorch shape reversed.
pub(crate) fn write_tensor_header<W: Write>(
    w: &mut W,
    name: &str,
    ne: &[usize],
    target: Target,
) -> io::Result<()> {
    w.write_all(&len_i32(ne.len())?.to_le_bytes())?;
    w.write_all(&len_i32(name.len())?.to_le_bytes())?;
    w.write_all(&target.type_id().to_le_bytes())?;
    for &d in ne {
        w.write_all(&len_i32(d)?.to_le_bytes())?;
    }
    w.write_all(name.as_bytes())
}

fn len_i32(n: usize) -> io::Result<i32> {
    i32::try_from(n).map_err(|_| io::Error::other(format!("{n} does not fit a ggml i32 field")))
}

/// What walking a ggml file found.
#[derive(Debug)]
pub(crate) struct Walk {
    pub(crate) hparams: HParams,
    pub(crate) tensors: usize,
    pub(crate) weight_type: String,
}

/// Sequential reader over a ggml file that tracks its position for error messages.
struct Walker<'a, R> {
    r: &'a mut R,
    pos: u64,
    path: &'a Path,
}

impl<R: Read> Walker<'_, R> {
    fn fail(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Ggml {
            path: self.path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Fills `buf`, returning `false` on a clean end of file before the first byte.
    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<bool, ModelError> {
        let got = read_full(self.r, buf).map_err(|e| io_error(self.path, e))?;
        self.pos += got as u64;
        match got {
            0 if !buf.is_empty() => Ok(false),
            n if n == buf.len() => Ok(true),
            _ => Err(self.fail(format!("truncated in {what} at byte {}", self.pos))),
        }
    }

    fn try_i32(&mut self, what: &str) -> Result<Option<i32>, ModelError> {
        let mut buf = [0u8; 4];
        Ok(self.fill(&mut buf, what)?.then(|| i32::from_le_bytes(buf)))
    }

    fn i32(&mut self, what: &str) -> Result<i32, ModelError> {
        self.try_i32(what)?
            .ok_or_else(|| self.fail(format!("truncated: end of file before {what}")))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), ModelError> {
        let copied = io::copy(&mut (&mut *self.r).take(n), &mut io::sink())
            .map_err(|e| io_error(self.path, e))?;
        self.pos += copied;
        if copied < n {
            return Err(self.fail(format!(
                "truncated: {what} needs {n} bytes, only {copied} left"
            )));
        }
        Ok(())
    }
}

/// Reads a ggml stream to its end, checking every tensor header and that each tensor's
/// data is all there. `len` (the file size) bounds allocations against garbage input.
pub(crate) fn walk<R: Read>(r: &mut R, path: &Path, len: u64) -> Result<Walk, ModelError> {
    let mut w = Walker { r, pos: 0, path };

    let magic = w.i32("the magic number")? as u32;
    if magic != MAGIC {
        return Err(w.fail(format!(
            "bad magic 0x{magic:08x} (expected 0x{MAGIC:08x}; GGUF files are not supported)"
        )));
    }
    let mut hp = [0i32; 11];
    for v in &mut hp {
        *v = w.i32("the hyper-parameters")?;
    }
    let hparams = HParams {
        n_vocab: hp[0],
        n_audio_ctx: hp[1],
        n_audio_state: hp[2],
        n_audio_head: hp[3],
        n_audio_layer: hp[4],
        n_text_ctx: hp[5],
        n_text_state: hp[6],
        n_text_head: hp[7],
        n_text_layer: hp[8],
        n_mels: hp[9],
        ftype: hp[10],
    };
    if hp[..10].iter().any(|&v| v <= 0) {
        return Err(w.fail(format!("implausible hyper-parameters {hparams:?}")));
    }

    let n_mel = w.i32("the mel filters")?;
    let n_fft = w.i32("the mel filters")?;
    let filter_bytes = u64::try_from(n_mel)
        .ok()
        .zip(u64::try_from(n_fft).ok())
        .map(|(a, b)| a * b * 4)
        .filter(|&b| b <= len)
        .ok_or_else(|| w.fail(format!("implausible mel filter shape {n_mel} x {n_fft}")))?;
    w.skip(filter_bytes, "the mel filters")?;

    let n_tokens = w.i32("the vocabulary")?;
    if n_tokens < 0 || n_tokens > hparams.n_vocab {
        return Err(w.fail(format!(
            "vocabulary of {n_tokens} tokens for n_vocab {}",
            hparams.n_vocab
        )));
    }
    for i in 0..n_tokens {
        let n = w.i32("a vocabulary entry")?;
        let n = u64::try_from(n).map_err(|_| w.fail(format!("token {i} has length {n}")))?;
        w.skip(n, "a vocabulary entry")?;
    }

    let mut tensors = 0usize;
    let mut weight_types: Vec<&'static str> = Vec::new();
    loop {
        let header_at = w.pos;
        let Some(n_dims) = w.try_i32("a tensor header")? else {
            break;
        };
        let name_len = w.i32("a tensor header")?;
        let type_id = w.i32("a tensor header")?;
        if !(1..=4).contains(&n_dims) || !(1..=1024).contains(&name_len) {
            return Err(w.fail(format!(
                "bad tensor header at byte {header_at} (n_dims {n_dims}, name length {name_len})"
            )));
        }
        let mut ne = Vec::with_capacity(4);
        for _ in 0..n_dims {
            ne.push(w.i32("a tensor shape")?);
        }
        let mut name = vec![0u8; name_len as usize];
        w.fill(&mut name, "a tensor name")?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let ty = type_info(type_id)
            .ok_or_else(|| w.fail(format!("tensor {name} has unsupported type id {type_id}")))?;
        let elements = ne.iter().try_fold(1u64, |acc, &d| {
            u64::try_from(d)
                .ok()
                .filter(|&d| d > 0)
                .and_then(|d| acc.checked_mul(d))
        });
        let row_fits = usize::try_from(ne[0]).is_ok_and(|n0| n0 % ty.block == 0);
        let bytes = elements
            .filter(|_| row_fits)
            .and_then(|e| (e / ty.block as u64).checked_mul(ty.block_bytes as u64))
            .filter(|&b| b <= len)
            .ok_or_else(|| {
                w.fail(format!(
                    "tensor {name} has invalid shape {ne:?} for {}",
                    ty.name
                ))
            })?;
        w.skip(bytes, &format!("tensor {name}"))?;
        tensors += 1;
        // The weight type is that of the 2-D non-f32 matrices (3-D convs stay f16 always).
        if n_dims == 2 && type_id != 0 && !weight_types.contains(&ty.name) {
            weight_types.push(ty.name);
        }
    }
    if tensors == 0 {
        return Err(w.fail("no tensors"));
    }
    let weight_type = match weight_types.as_slice() {
        [] => "f32".to_string(),
        [one] => (*one).to_string(),
        _ => "mixed".to_string(),
    };
    Ok(Walk {
        hparams,
        tensors,
        weight_type,
    })
}

/// Like `read_exact`, but reports how many bytes were read before end of file.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn io_error(path: &Path, error: io::Error) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        action: "read",
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random blocks with varied scales and offsets.
    fn blocks() -> Vec<[f32; QK]> {
        let mut state = 0x9e37_79b9u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        let mut out = Vec::new();
        for k in 0..2000 {
            let scale = 10f32.powi(k % 7 - 4);
            let offset = if k % 3 == 0 {
                next() * scale * 4.0
            } else {
                0.0
            };
            let mut b = [0f32; QK];
            b.iter_mut().for_each(|v| *v = next() * scale + offset);
            out.push(b);
        }
        out.push([0.0; QK]);
        out.push([0.25; QK]);
        out.push([-3.0; QK]);
        out
    }

    /// Largest error of rounding `v` to f16 (normal range: half an ulp; subnormal: 2^-25).
    fn f16_err(v: f32) -> f32 {
        (v.abs() / 2048.0).max(2f32.powi(-25))
    }

    #[test]
    fn q8_0_round_trip_error_is_bounded() {
        for b in blocks() {
            let q = quantize_q8_0(&b);
            let back = dequantize_q8_0(&q);
            let amax = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            // Half a step, plus the scale's own f16 rounding (relative 2^-11, or 2^-25
            // absolute once subnormal) magnified by up to 127 steps, plus f32 slop.
            let bound = 0.5 * d + 127.0 * f16_err(d) + 1e-6 * amax;
            for (x, y) in b.iter().zip(&back) {
                assert!((x - y).abs() <= bound, "{x} -> {y}, bound {bound}");
            }
        }
    }

    #[test]
    fn q5_1_round_trip_error_is_bounded() {
        for b in blocks() {
            let q = quantize_q5_1(&b);
            let back = dequantize_q5_1(&q);
            let (min, max) = b
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            let d = (max - min) / 31.0;
            let bound =
                0.5 * d + 31.0 * f16_err(d) + f16_err(min) + 1e-6 * max.abs().max(min.abs());
            for (x, y) in b.iter().zip(&back) {
                assert!((x - y).abs() <= bound, "{x} -> {y}, bound {bound}");
            }
        }
    }

    #[test]
    fn q5_1_bit_layout() {
        // Values 0..31 exactly: d = 1, m = 0, so the stored codes are the values themselves.
        let x: Vec<f32> = (0..32).map(|i| i as f32).collect();
        let q = quantize_q5_1(&x);
        assert_eq!(f16::from_le_bytes([q[0], q[1]]).to_f32(), 1.0);
        assert_eq!(f16::from_le_bytes([q[2], q[3]]).to_f32(), 0.0);
        // Values 16..31 have bit 4 set; they sit in the high half of qh.
        assert_eq!(u32::from_le_bytes([q[4], q[5], q[6], q[7]]), 0xffff_0000);
        assert_eq!(q[8], 0x00); // value 0 low nibble, value 16 high nibble (16 & 15 = 0)
        assert_eq!(q[9], 0x11); // values 1 and 17
        assert_eq!(q[23], 0xff); // values 15 and 31
    }

    #[test]
    fn iq4_nl_matches_ggml() {
        // Bytes ggml's `quantize_iq4_nl` writes for this block (no importance matrix); the
        // importer's output for the whole base model was compared with it the same way.
        let x: Vec<f32> = (0..32)
            .map(|j| (j as f32 * 0.7).sin() * (j + 1) as f32 / 10.0)
            .collect();
        assert_eq!(
            quantize_iq4_nl(&x),
            [22, 166, 216, 199, 135, 71, 39, 41, 90, 187, 234, 248, 213, 116, 36, 6, 26, 92]
        );
        // An all-zero block: scale 0, every code the level nearest 0 (index 8).
        let zero = quantize_iq4_nl(&[0.0; 32]);
        assert_eq!(&zero[..2], &[0, 0]);
        assert!(zero[2..].iter().all(|&b| b == 0x88));
    }

    #[test]
    fn iq4_nl_round_trip_error_is_bounded() {
        for b in blocks() {
            let q = quantize_iq4_nl(&b);
            let scale = f16::from_le_bytes([q[0], q[1]]).to_f32();
            let d = scale.abs();
            let amax = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            // Half the widest gap between levels (24 steps of d), or, for a value past
            // the outermost level the fitted scale reaches, its distance to that level.
            let bound = 12.0 * d + (amax - 113.0 * d).max(0.0) + 127.0 * f16_err(d) + 1e-6 * amax;
            for j in 0..QK / 2 {
                for (k, code) in [(j, q[2 + j] & 0x0f), (j + QK / 2, q[2 + j] >> 4)] {
                    let back = scale * f32::from(IQ4_NL_LEVELS[usize::from(code)]);
                    assert!(
                        (back - b[k]).abs() <= bound,
                        "{} -> {back}, bound {bound}",
                        b[k]
                    );
                }
            }
        }
    }

    #[test]
    fn q8_0_layout() {
        let mut x = [0f32; 32];
        x[0] = -127.0; // max |x| = 127, so d = 1 exactly
        x[1] = 63.5; // halves round away from zero, like C's roundf
        x[2] = -0.5;
        x[3] = 2.49;
        let q = quantize_q8_0(&x);
        assert_eq!(f16::from_le_bytes([q[0], q[1]]).to_f32(), 1.0);
        let codes: Vec<i8> = q[2..6].iter().map(|&b| b as i8).collect();
        assert_eq!(codes, [-127, 64, -1, 2]);
        assert!(q[6..].iter().all(|&b| b == 0));
    }

    #[test]
    fn write_data_encodes_each_target() {
        let src: Vec<u8> = (0..64)
            .flat_map(|i| f16::from_f32(i as f32).to_le_bytes())
            .collect();
        let data = Floats::F16(&src);
        let mut out = Vec::new();
        write_data(&mut out, data, Target::F16).expect("f16");
        assert_eq!(out, src);
        out.clear();
        write_data(&mut out, data, Target::F32).expect("f32");
        assert_eq!(out.len(), 256);
        assert_eq!(&out[4..8], &1f32.to_le_bytes());
        out.clear();
        write_data(&mut out, data, Target::Q8_0).expect("q8_0");
        assert_eq!(out.len(), 68);
        out.clear();
        write_data(&mut out, data, Target::Q5_1).expect("q5_1");
        assert_eq!(out.len(), 48);
        out.clear();
        write_data(&mut out, data, Target::Iq4Nl).expect("iq4_nl");
        assert_eq!(out.len(), 36);
        assert!(write_data(&mut out, Floats::F16(&src[..20]), Target::Q8_0).is_err());
    }
}
