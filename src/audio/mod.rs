//! Call audio: decode any recorder format to PCM per channel, resample to
//! the recogniser's 16 kHz, and find where each party speaks.

mod decode;
mod regions;
mod resample;

pub use decode::{decode, probe_duration, Audio, AudioError};
pub use regions::{recognition_spans, speech_regions, RegionParams};
pub use resample::{resample, TARGET_RATE};
