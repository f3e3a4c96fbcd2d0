//! Recognition model files: import a CTranslate2 Whisper model (faster-whisper's layout, the
//! form in which Whisper is published on PyPI) into the ggml file whisper.cpp loads,
//! optionally quantised, and inspect existing ggml files.
//!
//! The conversion is deterministic: the same input and options always give the same bytes,
//! so the result can be pinned by its SHA-256.

mod ct2;
mod ggml;
mod mel;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use ct2::{Ct2Model, DType};
use ggml::{Floats, Target};

/// Storage type for the large weight matrices of an imported model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantize {
    F16,
    Q8_0,
    Q5_1,
    Iq4Nl,
}

impl Quantize {
    fn target(self) -> Target {
        match self {
            Self::F16 => Target::F16,
            Self::Q8_0 => Target::Q8_0,
            Self::Q5_1 => Target::Q5_1,
            Self::Iq4Nl => Target::Iq4Nl,
        }
    }

    /// The `ftype` hyper-parameter whisper.cpp expects (`GGML_FTYPE_MOSTLY_*`; quantised
    /// files also carry the quantisation format version, as whisper.cpp's `quantize` writes).
    fn ftype(self) -> i32 {
        match self {
            Self::F16 => 1,
            Self::Q8_0 => ggml::QNT_VERSION * ggml::QNT_VERSION_FACTOR + 7,
            Self::Q5_1 => ggml::QNT_VERSION * ggml::QNT_VERSION_FACTOR + 9,
            Self::Iq4Nl => ggml::QNT_VERSION * ggml::QNT_VERSION_FACTOR + 19,
        }
    }
}

impl FromStr for Quantize {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Ok(Self::F16),
            "q8_0" => Ok(Self::Q8_0),
            "q5_1" => Ok(Self::Q5_1),
            "iq4_nl" => Ok(Self::Iq4Nl),
            _ => Err(ModelError::UnknownQuantize(s.to_string())),
        }
    }
}

impl fmt::Display for Quantize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q5_1 => "q5_1",
            Self::Iq4Nl => "iq4_nl",
        })
    }
}

/// Why an import or inspection failed; every message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Opening, reading, writing or renaming a file failed.
    #[error("{}: cannot {action}: {error}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },
    /// The input is not a CTranslate2 Whisper model this importer can convert.
    #[error("{}: not a convertible CTranslate2 Whisper model: {reason}", path.display())]
    Ct2 { path: PathBuf, reason: String },
    /// vocabulary.json (or .txt) is unreadable or does not fit the model.
    #[error("{}: invalid vocabulary: {reason}", path.display())]
    Vocabulary { path: PathBuf, reason: String },
    /// A file given to [`info`] is not a complete ggml Whisper model.
    #[error("{}: not a valid whisper.cpp ggml model: {reason}", path.display())]
    Ggml { path: PathBuf, reason: String },
    /// [`Quantize::from_str`] got something other than f16, q8_0, q5_1 or iq4_nl.
    #[error("unknown quantisation '{0}' (expected f16, q8_0, q5_1 or iq4_nl)")]
    UnknownQuantize(String),
}

/// What [`import`] wrote.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub tensors: usize,
    pub bytes: u64,
    pub sha256: String,
    pub quantize: Quantize,
}

/// What [`info`] found in a ggml file.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub hparams: HParams,
    pub tensors: usize,
    /// Type of the 2-D weight matrices: `"f16"`, `"q8_0"`, …, or `"mixed"`.
    pub weight_type: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The hyper-parameters at the head of a ggml Whisper file, in file order. `ftype` is as
/// stored: quantised files hold `1000 * quantisation version + GGML ftype` (2007 = q8_0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HParams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

/// Converts a CTranslate2 Whisper model to a ggml file at `dst`.
///
/// `src` is either a directory holding model.bin + vocabulary.json (CTranslate2 layout) or
/// the model.bin path itself (vocabulary.json then looked up beside it). The output appears
/// under `dst` only once complete (written to a temporary file, synced, then renamed).
pub fn import(src: &Path, dst: &Path, quantize: Quantize) -> Result<ImportSummary, ModelError> {
    let (model_path, vocab_path) = locate_inputs(src)?;
    if fs::canonicalize(dst).is_ok_and(|d| fs::canonicalize(&model_path).is_ok_and(|m| m == d)) {
        return Err(io_err(
            dst,
            "write",
            io::Error::new(io::ErrorKind::InvalidInput, "it is the input model"),
        ));
    }
    let file = File::open(&model_path).map_err(|e| io_err(&model_path, "open", e))?;
    let mut model = Ct2Model::parse(BufReader::new(file), &model_path)?;
    if model.spec != "WhisperSpec" {
        return Err(model.fail(format!("model spec is {}, not WhisperSpec", model.spec)));
    }
    let plan = plan(&mut model, quantize)?;
    let vocab = read_vocabulary(&vocab_path, plan.hparams.n_vocab)?;
    // whisper.cpp's front end: 16 kHz audio, 400-point FFT (201 frequency bins).
    let filters = mel::mel_filters(16_000, 400, plan.n_mels);

    let (bytes, sha256) = write_atomically(dst, |w| {
        let werr = |e| io_err(dst, "write", e);
        ggml::write_hparams(w, &plan.hparams).map_err(werr)?;
        ggml::write_filters(w, plan.hparams.n_mels, 201, &filters).map_err(werr)?;
        ggml::write_vocab(w, &vocab).map_err(werr)?;
        for t in &plan.tensors {
            let raw = model.read_part(&t.source, t.part.0, t.part.1)?;
            let data = match model.get(&t.source)?.dtype {
                DType::F32 => Floats::F32(&raw),
                DType::F16 => Floats::F16(&raw),
                DType::BF16 => Floats::BF16(&raw),
                // Rejected while planning; kept so a mistake there cannot write garbage.
                other => return Err(model.fail(format!("{} is {}", t.source, other.name()))),
            };
            if data.len() != t.ne.iter().product::<usize>() {
                return Err(model.fail(format!(
                    "{} does not hold the {:?} values {} needs",
                    t.source, t.ne, t.name
                )));
            }
            ggml::write_tensor_header(w, &t.name, &t.ne, t.target).map_err(werr)?;
            ggml::write_data(w, data, t.target).map_err(werr)?;
        }
        Ok(())
    })?;

    Ok(ImportSummary {
        tensors: plan.tensors.len(),
        bytes,
        sha256,
        quantize,
    })
}

/// Reads a ggml file's header, walks every tensor header (checking the data is all there)
/// and hashes the file, in one pass.
pub fn info(path: &Path) -> Result<ModelInfo, ModelError> {
    let file = File::open(path).map_err(|e| io_err(path, "open", e))?;
    let len = file.metadata().map_err(|e| io_err(path, "stat", e))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, HashReader::new(file));
    let walk = ggml::walk(&mut reader, path, len)?;
    let (bytes, sha256) = reader.into_inner().finish();
    Ok(ModelInfo {
        path: path.to_path_buf(),
        hparams: walk.hparams,
        tensors: walk.tensors,
        weight_type: walk.weight_type,
        bytes,
        sha256,
    })
}

/// SHA-256 of a file as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let file = File::open(path).map_err(|e| io_err(path, "open", e))?;
    let mut reader = HashReader::new(file);
    io::copy(&mut reader, &mut io::sink()).map_err(|e| io_err(path, "read", e))?;
    Ok(reader.finish().1)
}

fn io_err(path: &Path, action: &'static str, error: io::Error) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        action,
        error,
    }
}

/// Finds model.bin and the vocabulary (vocabulary.json, or the older vocabulary.txt).
fn locate_inputs(src: &Path) -> Result<(PathBuf, PathBuf), ModelError> {
    let (model, dir) = if src.is_dir() {
        (src.join("model.bin"), src.to_path_buf())
    } else {
        let dir = src
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (src.to_path_buf(), dir.to_path_buf())
    };
    if !model.is_file() {
        return Err(io_err(
            &model,
            "open",
            io::Error::new(io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let json = dir.join("vocabulary.json");
    let txt = dir.join("vocabulary.txt");
    let vocab = if !json.exists() && txt.exists() {
        txt
    } else {
        json
    };
    Ok((model, vocab))
}

/// Reads the vocabulary and turns its first `n_text` entries (the byte-level BPE tokens;
/// whisper.cpp derives the special tokens itself) back into raw bytes.
fn read_vocabulary(path: &Path, n_vocab: i32) -> Result<Vec<Vec<u8>>, ModelError> {
    let fail = |reason: String| ModelError::Vocabulary {
        path: path.to_path_buf(),
        reason,
    };
    let raw = fs::read(path).map_err(|e| io_err(path, "read", e))?;
    let tokens: Vec<String> = if path.extension().is_some_and(|e| e == "txt") {
        let text = String::from_utf8(raw).map_err(|_| fail("not UTF-8".to_string()))?;
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        if lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    } else {
        serde_json::from_slice(&raw)
            .map_err(|e| fail(format!("expected a JSON array of strings: {e}")))?
    };
    if i32::try_from(tokens.len()).ok() != Some(n_vocab) {
        return Err(fail(format!(
            "{} tokens, but the model's embedding has {n_vocab} rows",
            tokens.len()
        )));
    }
    let n_text = tokens
        .iter()
        .position(|t| t == "<|endoftext|>")
        .ok_or_else(|| fail("no <|endoftext|> token".to_string()))?;

    let table = gpt2_byte_decoder();
    tokens[..n_text]
        .iter()
        .enumerate()
        .map(|(i, token)| {
            token
                .chars()
                .map(|c| {
                    table.get(c as usize).copied().flatten().ok_or_else(|| {
                        fail(format!(
                            "token {i} has character {c:?} outside GPT-2's byte alphabet"
                        ))
                    })
                })
                .collect()
        })
        .collect()
}

/// GPT-2's byte ↔ unicode table, inverted: printable bytes stand for themselves, the other
/// 68 bytes were shifted to U+0100 onwards. Indexed by code point (all below U+0200).
fn gpt2_byte_decoder() -> [Option<u8>; 512] {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
    let mut table = [None; 512];
    let mut shifted = 256;
    for b in 0..=255u8 {
        if printable(b) {
            table[usize::from(b)] = Some(b);
        } else {
            table[shifted] = Some(b);
            shifted += 1;
        }
    }
    table
}

/// One ggml tensor to write: where its values come from and how to store them.
struct TensorPlan {
    name: String,
    source: String,
    /// `(index, parts)`: which equal slice of the source's first dimension to take.
    part: (usize, usize),
    /// Shape in ggml order (fastest-varying first).
    ne: Vec<usize>,
    target: Target,
}

struct Plan {
    hparams: HParams,
    n_mels: usize,
    tensors: Vec<TensorPlan>,
}

/// How whisper.cpp wants a tensor stored.
#[derive(Clone, Copy)]
enum Role {
    /// Biases, layer norms, positional embeddings.
    F32,
    /// Convolution kernels: always f16, even in quantised files.
    Conv,
    /// Linear weights and the token embedding: f16 or the chosen quantisation.
    Weight,
}

/// Collects the tensor list, checking every source shape so the output is loadable.
struct Planner<'a, R> {
    model: &'a Ct2Model<R>,
    quantize: Quantize,
    tensors: Vec<TensorPlan>,
}

impl<R: Read + Seek> Planner<'_, R> {
    /// Adds `name` from `source`, which must have `src_shape` (PyTorch order); `part`
    /// selects a slice along rows and `ne` is the ggml shape of what is written.
    fn add(
        &mut self,
        name: String,
        source: String,
        src_shape: &[usize],
        part: (usize, usize),
        ne: Vec<usize>,
        role: Role,
    ) -> Result<(), ModelError> {
        let var = self.model.get(&source)?;
        if var.dims != src_shape {
            return Err(self.model.fail(format!(
                "{source} has shape {:?}, expected {src_shape:?}",
                var.dims
            )));
        }
        if !matches!(var.dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(self.model.fail(format!(
                "{source} is {}; quantised CTranslate2 models are not supported \
                 (convert with --quantization float16)",
                var.dtype.name()
            )));
        }
        let target = match role {
            Role::F32 => Target::F32,
            Role::Conv => Target::F16,
            // whisper.cpp's quantize tool only quantises rows made of whole 32-value blocks.
            Role::Weight if ne.len() == 2 && ne[0] % ggml::QK == 0 => self.quantize.target(),
            Role::Weight => Target::F16,
        };
        self.tensors.push(TensorPlan {
            name,
            source,
            part,
            ne,
            target,
        });
        Ok(())
    }

    fn vector(&mut self, name: String, source: String, n: usize) -> Result<(), ModelError> {
        self.add(name, source, &[n], WHOLE, vec![n], Role::F32)
    }

    /// A linear layer's weight `[n_out, n_in]` and optional bias, possibly one `part` of a
    /// fused projection whose source has `part.1 × n_out` rows.
    fn linear(
        &mut self,
        name: &str,
        source: &str,
        n_in: usize,
        n_out: usize,
        part: (usize, usize),
        bias: bool,
    ) -> Result<(), ModelError> {
        let rows = part.1 * n_out;
        self.add(
            format!("{name}.weight"),
            format!("{source}/weight"),
            &[rows, n_in],
            part,
            vec![n_in, n_out],
            Role::Weight,
        )?;
        if bias {
            self.add(
                format!("{name}.bias"),
                format!("{source}/bias"),
                &[rows],
                part,
                vec![n_out],
                Role::F32,
            )?;
        }
        Ok(())
    }

    fn layer_norm(&mut self, name: &str, source: &str, n: usize) -> Result<(), ModelError> {
        self.vector(format!("{name}.weight"), format!("{source}/gamma"), n)?;
        self.vector(format!("{name}.bias"), format!("{source}/beta"), n)
    }

    /// `attn` is the ggml prefix (`encoder.blocks.0.attn`), `src` the CTranslate2 one
    /// (`encoder/layer_0/self_attention`). Self-attention fuses q, k, v in `linear_0`;
    /// cross-attention has q in `linear_0` and k, v fused in `linear_1`.
    fn attention(
        &mut self,
        attn: &str,
        src: &str,
        n: usize,
        fused_qkv: bool,
    ) -> Result<(), ModelError> {
        let lin = |k: usize| format!("{src}/linear_{k}");
        // Whisper's key projection has no bias; CTranslate2 stores zeros in the fused bias.
        // Dropping them is exact anyway: a per-query constant does not change the softmax.
        let (q, k, v, out) = if fused_qkv {
            ((lin(0), 0, 3), (lin(0), 1, 3), (lin(0), 2, 3), lin(1))
        } else {
            ((lin(0), 0, 1), (lin(1), 0, 2), (lin(1), 1, 2), lin(2))
        };
        self.linear(&format!("{attn}.query"), &q.0, n, n, (q.1, q.2), true)?;
        self.linear(&format!("{attn}.key"), &k.0, n, n, (k.1, k.2), false)?;
        self.linear(&format!("{attn}.value"), &v.0, n, n, (v.1, v.2), true)?;
        self.linear(&format!("{attn}.out"), &out, n, n, WHOLE, true)?;
        self.layer_norm(&format!("{attn}_ln"), &format!("{src}/layer_norm"), n)
    }

    fn mlp(&mut self, block: &str, src: &str, n: usize) -> Result<(), ModelError> {
        // whisper.cpp hard-codes the 4x MLP width.
        self.linear(
            &format!("{block}.mlp.0"),
            &format!("{src}/ffn/linear_0"),
            n,
            4 * n,
            WHOLE,
            true,
        )?;
        self.linear(
            &format!("{block}.mlp.2"),
            &format!("{src}/ffn/linear_1"),
            4 * n,
            n,
            WHOLE,
            true,
        )?;
        self.layer_norm(
            &format!("{block}.mlp_ln"),
            &format!("{src}/ffn/layer_norm"),
            n,
        )
    }
}

const WHOLE: (usize, usize) = (0, 1);

/// Maps the CTranslate2 variables onto whisper.cpp's tensors (model.md has the table).
fn plan<R: Read + Seek>(model: &mut Ct2Model<R>, quantize: Quantize) -> Result<Plan, ModelError> {
    let conv1 = model.get("encoder/conv1/weight")?.dims.clone();
    let embed = model.get("decoder/embeddings/weight")?.dims.clone();
    let enc_pos = model
        .get("encoder/position_encodings/encodings")?
        .dims
        .clone();
    let dec_pos = model
        .get("decoder/position_encodings/encodings")?
        .dims
        .clone();
    let (&[d, n_mels, 3], &[n_vocab, t], &[n_audio_ctx, _], &[n_text_ctx, _]) = (
        conv1.as_slice(),
        embed.as_slice(),
        enc_pos.as_slice(),
        dec_pos.as_slice(),
    ) else {
        return Err(model.fail(format!(
            "unexpected shapes: conv1 {conv1:?}, embeddings {embed:?}, \
             positions {enc_pos:?} and {dec_pos:?}"
        )));
    };
    let n_audio_layer = count_layers(model, "encoder/layer_");
    let n_text_layer = count_layers(model, "decoder/layer_");
    if n_audio_layer == 0 || n_text_layer == 0 {
        return Err(model.fail("no encoder or decoder layers"));
    }
    // Every Whisper size uses 64-wide heads; the scalars are there from spec revision 3 on.
    let n_audio_head = model
        .scalar_int("encoder/num_heads")?
        .unwrap_or(d as i64 / 64);
    let n_text_head = model
        .scalar_int("decoder/num_heads")?
        .unwrap_or(t as i64 / 64);

    let model: &Ct2Model<R> = model;
    let int =
        |v: usize| i32::try_from(v).map_err(|_| model.fail(format!("dimension {v} is too large")));
    let heads = |v: i64| {
        i32::try_from(v)
            .ok()
            .filter(|&h| h > 0)
            .ok_or_else(|| model.fail(format!("invalid head count {v}")))
    };
    let hparams = HParams {
        n_vocab: int(n_vocab)?,
        n_audio_ctx: int(n_audio_ctx)?,
        n_audio_state: int(d)?,
        n_audio_head: heads(n_audio_head)?,
        n_audio_layer: int(n_audio_layer)?,
        n_text_ctx: int(n_text_ctx)?,
        n_text_state: int(t)?,
        n_text_head: heads(n_text_head)?,
        n_text_layer: int(n_text_layer)?,
        n_mels: int(n_mels)?,
        ftype: quantize.ftype(),
    };

    let mut p = Planner {
        model,
        quantize,
        tensors: Vec::new(),
    };
    // Same order as the PyTorch state dict, which is what the reference converter writes.
    p.add(
        "encoder.positional_embedding".into(),
        "encoder/position_encodings/encodings".into(),
        &[n_audio_ctx, d],
        WHOLE,
        vec![d, n_audio_ctx],
        Role::F32,
    )?;
    for (i, n_in) in [(1, n_mels), (2, d)] {
        p.add(
            format!("encoder.conv{i}.weight"),
            format!("encoder/conv{i}/weight"),
            &[d, n_in, 3],
            WHOLE,
            vec![3, n_in, d],
            Role::Conv,
        )?;
        // whisper.cpp adds the bias to a [time, channels] map, hence the 2-D [1, d] shape.
        p.add(
            format!("encoder.conv{i}.bias"),
            format!("encoder/conv{i}/bias"),
            &[d],
            WHOLE,
            vec![1, d],
            Role::F32,
        )?;
    }
    for i in 0..n_audio_layer {
        let (block, src) = (format!("encoder.blocks.{i}"), format!("encoder/layer_{i}"));
        p.attention(
            &format!("{block}.attn"),
            &format!("{src}/self_attention"),
            d,
            true,
        )?;
        p.mlp(&block, &src, d)?;
    }
    p.layer_norm("encoder.ln_post", "encoder/layer_norm", d)?;

    p.add(
        "decoder.positional_embedding".into(),
        "decoder/position_encodings/encodings".into(),
        &[n_text_ctx, t],
        WHOLE,
        vec![t, n_text_ctx],
        Role::F32,
    )?;
    // The output projection is tied to this embedding and whisper.cpp reuses it, so
    // `decoder/projection/weight` is not written.
    p.add(
        "decoder.token_embedding.weight".into(),
        "decoder/embeddings/weight".into(),
        &[n_vocab, t],
        WHOLE,
        vec![t, n_vocab],
        Role::Weight,
    )?;
    for i in 0..n_text_layer {
        let (block, src) = (format!("decoder.blocks.{i}"), format!("decoder/layer_{i}"));
        p.attention(
            &format!("{block}.attn"),
            &format!("{src}/self_attention"),
            t,
            true,
        )?;
        p.attention(
            &format!("{block}.cross_attn"),
            &format!("{src}/attention"),
            t,
            false,
        )?;
        p.mlp(&block, &src, t)?;
    }
    p.layer_norm("decoder.ln", "decoder/layer_norm", t)?;

    Ok(Plan {
        hparams,
        n_mels,
        tensors: p.tensors,
    })
}

/// Number of consecutive `prefix{i}/` layers present, from 0.
fn count_layers<R>(model: &Ct2Model<R>, prefix: &str) -> usize {
    let mut present: Vec<usize> = model
        .names()
        .filter_map(|n| n.strip_prefix(prefix)?.split('/').next()?.parse().ok())
        .collect();
    present.sort_unstable();
    present.dedup();
    present
        .iter()
        .enumerate()
        .take_while(|(i, n)| i == *n)
        .count()
}

/// Writes through `write` into a temporary file beside `dst`, syncs it and renames it into
/// place, so `dst` never names a partial file. Returns the size and SHA-256 written.
fn write_atomically<F>(dst: &Path, write: F) -> Result<(u64, String), ModelError>
where
    F: FnOnce(&mut BufWriter<HashWriter<&mut File>>) -> Result<(), ModelError>,
{
    let dir = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = dst.file_name().ok_or_else(|| {
        io_err(
            dst,
            "write",
            io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        )
    })?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| io_err(dir, "create a temporary file in", e))?;

    let (bytes, sha256) = {
        let mut w = BufWriter::with_capacity(1 << 20, HashWriter::new(tmp.as_file_mut()));
        write(&mut w)?;
        let hw = w
            .into_inner()
            .map_err(|e| io_err(dst, "write", e.into_error()))?;
        hw.finish()
    };
    let file = tmp.as_file();
    file.sync_all().map_err(|e| io_err(dst, "sync", e))?;
    #[cfg(unix)]
    {
        // Temporary files are created 0600; a model is not secret.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(|e| io_err(dst, "set permissions on", e))?;
    }
    tmp.persist(dst)
        .map_err(|e| io_err(dst, "rename the temporary file to", e.error))?;
    #[cfg(unix)]
    {
        // Make the rename itself durable.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(dir, "sync", e))?;
    }
    Ok((bytes, sha256))
}

/// Hashes and counts everything written through it.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W> HashWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (u64, String) {
        (self.bytes, format!("{:x}", self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes and counts everything read through it.
struct HashReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R> HashReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (u64, String) {
        (self.bytes, format!("{:x}", self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct2::tests::Ct2Builder;

    const D: u32 = 64;

    /// A complete (tiny) Whisper model: 1 encoder and 1 decoder layer, width 64, 8 tokens.
    /// Each value encodes its row, so row slicing can be checked after conversion.
    fn tiny_model(dir: &Path) {
        write_model(dir, &tiny_builder());
    }

    fn tiny_builder() -> Ct2Builder {
        let mut b = Ct2Builder::default();
        let row_of = |cols: u32| move |i: usize| (i / cols as usize) as f32;
        b.var("encoder/num_heads", &[], 2, 1i16.to_le_bytes().to_vec());
        b.var("decoder/num_heads", &[], 2, 1i16.to_le_bytes().to_vec());
        b.f16("encoder/conv1/weight", &[D, 80, 3], |i| (i % 7) as f32);
        b.f16("encoder/conv2/weight", &[D, D, 3], |i| (i % 5) as f32);
        for c in ["conv1", "conv2"] {
            b.f16(&format!("encoder/{c}/bias"), &[D], |i| i as f32);
        }
        b.f16("encoder/position_encodings/encodings", &[4, D], row_of(D));
        b.f16("decoder/position_encodings/encodings", &[3, D], row_of(D));
        b.f16("decoder/embeddings/weight", &[8, D], row_of(D));
        b.alias("decoder/projection/weight", "decoder/embeddings/weight");
        let norms = |b: &mut Ct2Builder, p: &str| {
            b.f16(&format!("{p}/gamma"), &[D], |_| 1.0);
            b.f16(&format!("{p}/beta"), &[D], |_| 0.0);
        };
        norms(&mut b, "encoder/layer_norm");
        norms(&mut b, "decoder/layer_norm");
        for side in ["encoder", "decoder"] {
            let l = format!("{side}/layer_0");
            b.f16(
                &format!("{l}/self_attention/linear_0/weight"),
                &[3 * D, D],
                row_of(D),
            );
            b.f16(
                &format!("{l}/self_attention/linear_0/bias"),
                &[3 * D],
                |i| i as f32,
            );
            b.f16(
                &format!("{l}/self_attention/linear_1/weight"),
                &[D, D],
                row_of(D),
            );
            b.f16(&format!("{l}/self_attention/linear_1/bias"), &[D], |_| 0.5);
            norms(&mut b, &format!("{l}/self_attention/layer_norm"));
            b.f16(&format!("{l}/ffn/linear_0/weight"), &[4 * D, D], row_of(D));
            b.f16(&format!("{l}/ffn/linear_0/bias"), &[4 * D], |_| 0.0);
            b.f16(
                &format!("{l}/ffn/linear_1/weight"),
                &[D, 4 * D],
                row_of(4 * D),
            );
            b.f16(&format!("{l}/ffn/linear_1/bias"), &[D], |_| 0.0);
            norms(&mut b, &format!("{l}/ffn/layer_norm"));
        }
        let l = "decoder/layer_0/attention";
        b.f16(&format!("{l}/linear_0/weight"), &[D, D], row_of(D));
        b.f16(&format!("{l}/linear_0/bias"), &[D], |_| 0.0);
        b.f16(&format!("{l}/linear_1/weight"), &[2 * D, D], row_of(D));
        b.f16(&format!("{l}/linear_1/bias"), &[2 * D], |i| i as f32);
        b.f16(&format!("{l}/linear_2/weight"), &[D, D], row_of(D));
        b.f16(&format!("{l}/linear_2/bias"), &[D], |_| 0.0);
        norms(&mut b, &format!("{l}/layer_norm"));
        b.var("decoder/scale_embeddings", &[], 1, vec![0]);
        b
    }

    fn write_model(dir: &Path, b: &Ct2Builder) {
        fs::write(dir.join("model.bin"), b.build()).expect("write model.bin");
        let vocab = r#"["!", "\u0120hello", "\u010a", "", "<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>"]"#;
        fs::write(dir.join("vocabulary.json"), vocab).expect("write vocabulary");
    }

    struct Entry {
        type_id: i32,
        ne: Vec<usize>,
        data: Vec<u8>,
    }

    /// Minimal independent ggml parser: vocabulary plus every tensor by name.
    fn parse_ggml(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<(String, Entry)>) {
        let mut pos = 0;
        let i32_at = |pos: &mut usize| {
            let v = i32::from_le_bytes(bytes[*pos..*pos + 4].try_into().expect("4 bytes"));
            *pos += 4;
            v
        };
        assert_eq!(i32_at(&mut pos) as u32, ggml::MAGIC);
        pos += 11 * 4;
        let (n_mel, n_fft) = (i32_at(&mut pos), i32_at(&mut pos));
        assert_eq!((n_mel, n_fft), (80, 201));
        pos += 80 * 201 * 4;
        let n_tokens = i32_at(&mut pos);
        let mut vocab = Vec::new();
        for _ in 0..n_tokens {
            let n = i32_at(&mut pos) as usize;
            vocab.push(bytes[pos..pos + n].to_vec());
            pos += n;
        }
        let mut tensors = Vec::new();
        while pos < bytes.len() {
            let (n_dims, name_len, type_id) =
                (i32_at(&mut pos), i32_at(&mut pos), i32_at(&mut pos));
            let ne: Vec<usize> = (0..n_dims).map(|_| i32_at(&mut pos) as usize).collect();
            let name =
                String::from_utf8(bytes[pos..pos + name_len as usize].to_vec()).expect("utf8");
            pos += name_len as usize;
            let n: usize = ne.iter().product();
            let size = match type_id {
                0 => n * 4,
                1 => n * 2,
                7 => n / 32 * 24,
                8 => n / 32 * 34,
                20 => n / 32 * 18,
                other => panic!("type {other}"),
            };
            let data = bytes[pos..pos + size].to_vec();
            pos += size;
            tensors.push((name, Entry { type_id, ne, data }));
        }
        (vocab, tensors)
    }

    fn f16_at(data: &[u8], i: usize) -> f32 {
        half::f16::from_le_bytes([data[2 * i], data[2 * i + 1]]).to_f32()
    }

    fn f32_at(data: &[u8], i: usize) -> f32 {
        f32::from_le_bytes(data[4 * i..4 * i + 4].try_into().expect("4 bytes"))
    }

    #[test]
    fn imports_a_tiny_model() {
        let dir = tempfile::tempdir().expect("tempdir");
        tiny_model(dir.path());
        let dst = dir.path().join("out.bin");
        let summary = import(dir.path(), &dst, Quantize::F16).expect("import");
        // 7 + 15 per encoder layer, 4 + 24 per decoder layer.
        assert_eq!(summary.tensors, 50);
        let bytes = fs::read(&dst).expect("read output");
        assert_eq!(summary.bytes, bytes.len() as u64);
        assert_eq!(summary.sha256, sha256_file(&dst).expect("hash"));

        let (vocab, tensors) = parse_ggml(&bytes);
        assert_eq!(
            vocab,
            [
                b"!".to_vec(),
                b" hello".to_vec(),
                b"\n".to_vec(),
                Vec::new()
            ]
        );
        assert_eq!(tensors.len(), 50);
        let get = |name: &str| {
            &tensors
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .1
        };
        // Row slicing of the fused projections: key rows start at D, value rows at 2D.
        let k = get("encoder.blocks.0.attn.key.weight");
        assert_eq!((k.type_id, k.ne.as_slice()), (1, &[64, 64][..]));
        assert_eq!(f16_at(&k.data, 0), 64.0);
        let v_bias = get("decoder.blocks.0.attn.value.bias");
        assert_eq!((v_bias.type_id, f32_at(&v_bias.data, 0)), (0, 128.0));
        let ck = get("decoder.blocks.0.cross_attn.key.weight");
        assert_eq!(f16_at(&ck.data, 64 * 64 - 1), 63.0);
        let cv = get("decoder.blocks.0.cross_attn.value.bias");
        assert_eq!(f32_at(&cv.data, 0), 64.0);
        assert!(tensors.iter().all(|(n, _)| !n.contains("key.bias")));
        let conv_bias = get("encoder.conv2.bias");
        assert_eq!(
            (conv_bias.type_id, conv_bias.ne.as_slice()),
            (0, &[1, 64][..])
        );
        let conv = get("encoder.conv1.weight");
        assert_eq!((conv.type_id, conv.ne.as_slice()), (1, &[3, 80, 64][..]));
        let pos = get("decoder.positional_embedding");
        assert_eq!((pos.type_id, pos.ne.as_slice()), (0, &[64, 3][..]));
        assert_eq!(f32_at(&pos.data, 64 * 2), 2.0);
        let mlp2 = get("encoder.blocks.0.mlp.2.weight");
        assert_eq!(mlp2.ne, [256, 64]);

        let info = info(&dst).expect("info");
        assert_eq!(info.tensors, 50);
        assert_eq!(info.weight_type, "f16");
        assert_eq!(
            (info.bytes, info.sha256.as_str()),
            (summary.bytes, summary.sha256.as_str())
        );
        let expected = HParams {
            n_vocab: 8,
            n_audio_ctx: 4,
            n_audio_state: 64,
            n_audio_head: 1,
            n_audio_layer: 1,
            n_text_ctx: 3,
            n_text_state: 64,
            n_text_head: 1,
            n_text_layer: 1,
            n_mels: 80,
            ftype: 1,
        };
        assert_eq!(info.hparams, expected);

        // Converting again gives identical bytes, and the model.bin path works as `src`.
        let again = import(&dir.path().join("model.bin"), &dst, Quantize::F16).expect("again");
        assert_eq!(again.sha256, summary.sha256);
    }

    #[test]
    fn quantised_import_keeps_whisper_cpp_types() {
        let dir = tempfile::tempdir().expect("tempdir");
        tiny_model(dir.path());
        for (q, type_id, ftype) in [
            (Quantize::Q8_0, 8, 2007),
            (Quantize::Q5_1, 7, 2009),
            (Quantize::Iq4Nl, 20, 2019),
        ] {
            let dst = dir.path().join(format!("out-{q}.bin"));
            import(dir.path(), &dst, q).expect("import");
            let (_, tensors) = parse_ggml(&fs::read(&dst).expect("read"));
            for (name, e) in &tensors {
                let expected = if name.contains("conv") && name.ends_with("weight") {
                    1
                } else if e.ne.len() == 2 && name.ends_with("weight") {
                    type_id
                } else {
                    0
                };
                assert_eq!(e.type_id, expected, "{name}");
            }
            let info = info(&dst).expect("info");
            assert_eq!(
                (info.weight_type, info.hparams.ftype),
                (q.to_string(), ftype)
            );
        }
    }

    #[test]
    fn quantize_parses_and_prints() {
        for q in [
            Quantize::F16,
            Quantize::Q8_0,
            Quantize::Q5_1,
            Quantize::Iq4Nl,
        ] {
            assert_eq!(q.to_string().parse::<Quantize>().expect("round trip"), q);
        }
        assert_eq!("Q8_0".parse::<Quantize>().expect("case"), Quantize::Q8_0);
        let err = "q4".parse::<Quantize>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown quantisation 'q4' (expected f16, q8_0, q5_1 or iq4_nl)"
        );
    }

    #[test]
    fn bad_inputs_fail_cleanly_and_leave_no_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        tiny_model(dir.path());
        let model = fs::read(dir.path().join("model.bin")).expect("read");
        let out_dir = tempfile::tempdir().expect("tempdir");
        let dst = out_dir.path().join("out.bin");

        // Truncated at many points, including mid-tensor.
        for cut in [0, 5, 40, model.len() / 3, model.len() - 1] {
            fs::write(dir.path().join("model.bin"), &model[..cut]).expect("write");
            let err = import(dir.path(), &dst, Quantize::F16).expect_err("truncated");
            let msg = err.to_string();
            assert!(msg.contains("model.bin: "), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
        // Garbage.
        fs::write(dir.path().join("model.bin"), b"definitely not a model").expect("write");
        assert!(import(dir.path(), &dst, Quantize::F16).is_err());
        // Vocabulary that does not fit.
        fs::write(dir.path().join("model.bin"), &model).expect("write");
        fs::write(dir.path().join("vocabulary.json"), "[\"a\"]").expect("write");
        let msg = import(dir.path(), &dst, Quantize::F16)
            .expect_err("vocab")
            .to_string();
        assert!(
            msg.contains("vocabulary.json: invalid vocabulary: 1 tokens"),
            "{msg}"
        );
        // An int8 CTranslate2 weight (a later entry of the same name replaces the first).
        let mut b = tiny_builder();
        b.var(
            "encoder/layer_0/ffn/linear_0/weight",
            &[4 * D, D],
            1,
            vec![0; (4 * D * D) as usize],
        );
        write_model(dir.path(), &b);
        let msg = import(dir.path(), &dst, Quantize::F16)
            .expect_err("int8")
            .to_string();
        assert!(
            msg.contains("linear_0/weight is int8; quantised CTranslate2"),
            "{msg}"
        );
        // Missing input.
        let msg = import(&dir.path().join("nope"), &dst, Quantize::F16)
            .expect_err("missing")
            .to_string();
        assert!(msg.contains("nope: cannot open"), "{msg}");

        // Nothing, not even a temporary file, is left behind.
        assert_eq!(fs::read_dir(out_dir.path()).expect("ls").count(), 0);
    }

    #[test]
    fn info_rejects_truncated_and_garbage_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        tiny_model(dir.path());
        let dst = dir.path().join("out.bin");
        import(dir.path(), &dst, Quantize::Q8_0).expect("import");
        let good = fs::read(&dst).expect("read");
        let cut_path = dir.path().join("cut.bin");
        for cut in [0, 3, 30, 100, 64_400, good.len() / 2, good.len() - 1] {
            fs::write(&cut_path, &good[..cut]).expect("write");
            let msg = info(&cut_path).expect_err("truncated").to_string();
            assert!(
                msg.starts_with(&format!("{}: ", cut_path.display())),
                "{msg}"
            );
        }
        let mut junk = good.clone();
        junk[..4].copy_from_slice(b"GGUF");
        fs::write(&cut_path, &junk).expect("write");
        assert!(info(&cut_path)
            .expect_err("magic")
            .to_string()
            .contains("bad magic"));
        // A tensor header claiming a huge shape must not allocate or panic.
        let mut junk = good;
        let first_tensor = 4 + 44 + 8 + 80 * 201 * 4 + 4 + (4 + 1) + (4 + 6) + (4 + 1) + 4;
        junk[first_tensor + 12..first_tensor + 16].copy_from_slice(&i32::MAX.to_le_bytes());
        fs::write(&cut_path, &junk).expect("write");
        assert!(info(&cut_path).is_err());
    }
}
