//! The transcript cache: recognition is the only expensive stage, so its
//! output is kept, keyed by the audio bytes, the model and every setting
//! that changes the text. Rescoring after a card edit never re-transcribes.

use crate::files::{hex, write_atomic};
use crate::transcript::Transcript;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// `CALLQA_CACHE_DIR`, else `$XDG_CACHE_HOME/callqa`, else `~/.cache/callqa`.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("CALLQA_CACHE_DIR") {
            return PathBuf::from(d);
        }
        if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
            return PathBuf::from(d).join("callqa");
        }
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/callqa"))
            .unwrap_or_else(|| std::env::temp_dir().join("callqa-cache"))
    }

    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    pub fn transcripts_dir(&self) -> PathBuf {
        self.dir.join("transcripts")
    }

    pub fn key(audio_sha256: &str, model_sha256: &str, settings: &str) -> String {
        let mut h = Sha256::new();
        for part in [audio_sha256, model_sha256, settings] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex(&h.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.transcripts_dir().join(format!("{key}.json"))
    }

    /// A cached transcript, if present and readable; a damaged entry is a miss.
    pub fn get(&self, key: &str) -> Option<Transcript> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn put(&self, key: &str, t: &Transcript) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(t).map_err(std::io::Error::other)?;
        write_atomic(&self.path(key), &json)
    }
}
