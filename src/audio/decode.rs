//! Decoding with symphonia. A damaged file yields what could be read plus a
//! warning; a file that is not audio, or uses a codec we cannot read, is an
//! error naming the file and the reason.

use std::fs::File;
use std::path::{Path, PathBuf};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Decoded audio: one `Vec` of samples in -1..1 per channel.
#[derive(Debug, Clone)]
pub struct Audio {
    pub channels: Vec<Vec<f32>>,
    pub sample_rate: u32,
    pub codec: String,
    pub warnings: Vec<String>,
}

impl Audio {
    pub fn duration(&self) -> f64 {
        let frames = self.channels.first().map_or(0, Vec::len);
        frames as f64 / self.sample_rate.max(1) as f64
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: empty file (0 bytes)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: not a recognised audio file ({detail})", path.display())]
    NotAudio { path: PathBuf, detail: String },
    #[error("{}: unsupported audio: {detail}", path.display())]
    Unsupported { path: PathBuf, detail: String },
    #[error("{}: no audio in the file (zero length)", path.display())]
    NoAudio { path: PathBuf },
    #[error("{}: cannot decode: {detail}", path.display())]
    Decode { path: PathBuf, detail: String },
    #[error("{}: recording is {} long, over the {} limit (raise it with --max-duration)", path.display(), hms(*duration), hms(*limit))]
    TooLong {
        path: PathBuf,
        duration: f64,
        limit: f64,
    },
}

pub(crate) fn hms(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn open(path: &Path) -> Result<Box<dyn FormatReader>, AudioError> {
    let file = File::open(path).map_err(|source| AudioError::Io {
        path: path.into(),
        source,
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Err(AudioError::Empty { path: path.into() });
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(&ext.to_ascii_lowercase());
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions {
                enable_gapless: true,
                ..Default::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymError::Unsupported(m) if m.contains("probe") => AudioError::NotAudio {
                path: path.into(),
                detail: "format not recognised".into(),
            },
            SymError::Unsupported(m) if m.contains("unsupported wave format") => {
                AudioError::Unsupported {
                    path: path.into(),
                    detail: wav_codec_name(path).map_or_else(
                        || "WAV with a codec callqa cannot decode".to_string(),
                        |c| {
                            format!(
                                "WAV codec {c}; convert it to PCM, µ-law or A-law (e.g. with sox)"
                            )
                        },
                    ),
                }
            }
            SymError::Unsupported(m) => AudioError::Unsupported {
                path: path.into(),
                detail: m.to_string(),
            },
            SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                AudioError::NotAudio {
                    path: path.into(),
                    detail: "file ends inside its header".into(),
                }
            }
            other => AudioError::NotAudio {
                path: path.into(),
                detail: other.to_string(),
            },
        })?;
    Ok(probed.format)
}

/// Names the codec of a WAV file from its `fmt ` chunk, for the error
/// message when symphonia has no decoder for it.
fn wav_codec_name(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        if &bytes[at..at + 4] == b"fmt " && at + 10 <= bytes.len() {
            let tag = u16::from_le_bytes([bytes[at + 8], bytes[at + 9]]);
            let name = match tag {
                0x0002 => "MS ADPCM",
                0x0011 => "IMA ADPCM",
                0x0022 => "TrueSpeech",
                0x0031 => "GSM 6.10",
                0x0040 => "G.721 ADPCM",
                0x0042 | 0x0064 => "G.726 ADPCM",
                0x0055 => "MP3 in WAV",
                0x0065 | 0x0067 => "G.722",
                0x0070..=0x0072 => "G.723",
                0x00A1 | 0x0133 => "G.729",
                0x704F | 0x6750 => "Opus",
                _ => "",
            };
            return Some(if name.is_empty() {
                format!("format tag 0x{tag:04X}")
            } else {
                format!("{name} (format tag 0x{tag:04X})")
            });
        }
        at += 8 + size + (size & 1);
    }
    None
}

/// Duration from the container header, without decoding, where it is known.
pub fn probe_duration(path: &Path) -> Result<Option<f64>, AudioError> {
    let format = open(path)?;
    Ok(format.default_track().and_then(|t| {
        let p = &t.codec_params;
        Some(p.n_frames? as f64 / p.sample_rate? as f64)
    }))
}

/// Decodes the first audio track. `max_seconds` refuses over-long recordings
/// before their samples are held in memory.
pub fn decode(path: &Path, max_seconds: f64) -> Result<Audio, AudioError> {
    let mut format = open(path)?;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::NotAudio {
            path: path.into(),
            detail: "no audio track".into(),
        })?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let codec = symphonia::default::get_codecs()
        .get_codec(params.codec)
        .map_or_else(
            || format!("{:?}", params.codec),
            |d| d.short_name.to_string(),
        );
    if let (Some(n), Some(sr)) = (params.n_frames, params.sample_rate) {
        let d = n as f64 / sr as f64;
        if d > max_seconds {
            return Err(AudioError::TooLong {
                path: path.into(),
                duration: d,
                limit: max_seconds,
            });
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| AudioError::Unsupported {
            path: path.into(),
            detail: match e {
                SymError::Unsupported(m) => format!("codec not supported ({m})"),
                other => other.to_string(),
            },
        })?;

    let mut channels: Vec<Vec<f32>> = Vec::new();
    let mut sample_rate = params.sample_rate.unwrap_or(0);
    let mut warnings = Vec::new();
    let mut buf: Option<SampleBuffer<f32>> = None;
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                warnings.push(format!("stopped reading early: {e}"));
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(e) => {
                warnings.push(format!("stopped decoding early: {e}"));
                break;
            }
        };
        let spec = *decoded.spec();
        sample_rate = spec.rate;
        let n_ch = spec.channels.count();
        if channels.is_empty() {
            channels = vec![Vec::new(); n_ch.min(2)];
            if n_ch > 2 {
                warnings.push(format!("{n_ch} channels: only the first two are used"));
            }
        }
        let sb = buf.get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, spec));
        if sb.capacity() < decoded.capacity() * n_ch {
            *sb = SampleBuffer::new(decoded.capacity() as u64, spec);
        }
        sb.copy_interleaved_ref(decoded);
        for frame in sb.samples().chunks_exact(n_ch) {
            for (c, ch) in channels.iter_mut().enumerate() {
                ch.push(frame[c]);
            }
        }
        if channels[0].len() as f64 > max_seconds * sample_rate as f64 {
            return Err(AudioError::TooLong {
                path: path.into(),
                duration: channels[0].len() as f64 / sample_rate as f64,
                limit: max_seconds,
            });
        }
    }
    if bad_packets > 0 {
        warnings.push(format!("{bad_packets} damaged packet(s) skipped"));
    }
    let audio = Audio {
        channels,
        sample_rate,
        codec,
        warnings,
    };
    if audio.channels.is_empty() || audio.channels[0].is_empty() || sample_rate == 0 {
        return Err(AudioError::NoAudio { path: path.into() });
    }
    let mut audio = audio;
    if let (Some(n), Some(sr)) = (params.n_frames, params.sample_rate) {
        let expected = n as f64 / sr as f64;
        let got = audio.duration();
        if got + 0.5 < expected {
            audio.warnings.push(format!(
                "truncated: header says {}, only {} could be decoded",
                hms(expected),
                hms(got)
            ));
        }
    }
    Ok(audio)
}
