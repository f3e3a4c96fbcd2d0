//! The transcript: what recognition produces and what scoring reads.
//!
//! Stored as versioned JSON (`schema: "callqa.transcript/1"`), so stored
//! transcripts can be rescored after a card edit without audio or a model.

use crate::types::{Seconds, Span, Speaker};
use serde::{Deserialize, Serialize};

pub const TRANSCRIPT_SCHEMA: &str = "callqa.transcript/1";

/// One recognised stretch of speech by one party.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start: Seconds,
    pub end: Seconds,
    pub speaker: Speaker,
    pub text: String,
}

/// Where someone was speaking on one channel (from the speech-region detector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub speaker: Speaker,
    #[serde(flatten)]
    pub span: Span,
}

/// Facts about the recording a transcript came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// File name as given on the command line (or relative to the input directory).
    pub path: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    pub duration: Seconds,
    pub channels: u16,
    pub sample_rate: u32,
    pub codec: String,
}

/// Which model and settings produced the text (absent for hand-written transcripts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecognitionInfo {
    pub model: String,
    pub model_sha256: String,
    pub language: String,
    pub settings: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub schema: String,
    pub source: SourceInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition: Option<RecognitionInfo>,
    /// Speech regions per channel; empty when unknown (e.g. hand-written transcripts).
    #[serde(default)]
    pub regions: Vec<Region>,
    /// Segments in start-time order across both speakers.
    pub segments: Vec<Segment>,
    /// Problems found while decoding or recognising (truncated file, dropped hallucination, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Transcript {
    pub fn duration(&self) -> Seconds {
        self.source.duration
    }

    /// True when speakers come from separate channels rather than being unknown.
    pub fn speakers_known(&self) -> bool {
        self.segments.iter().any(|s| s.speaker != Speaker::Unknown)
    }
}
