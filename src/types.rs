//! Small value types shared by every stage, so signatures say what they hold.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A time or duration in seconds of call audio.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seconds(pub f64);

impl Seconds {
    pub fn get(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Seconds {
    /// `m:ss` the way a QA lead reads a call position.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.0.max(0.0);
        let m = (total / 60.0).floor() as u64;
        let s = total - (m as f64) * 60.0;
        write!(f, "{m}:{s:04.1}")
    }
}

impl std::ops::Add for Seconds {
    type Output = Seconds;
    fn add(self, rhs: Seconds) -> Seconds {
        Seconds(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Seconds {
    type Output = Seconds;
    fn sub(self, rhs: Seconds) -> Seconds {
        Seconds(self.0 - rhs.0)
    }
}

/// Who spoke. `Unknown` on mono recordings, where the channel cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Agent,
    Customer,
    Unknown,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Agent => "agent",
            Speaker::Customer => "customer",
            Speaker::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Speaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifier of a stage or violation in a quality card.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageId(pub String);

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A half-open stretch of call time `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub start: Seconds,
    pub end: Seconds,
}

impl Span {
    pub fn new(start: f64, end: f64) -> Self {
        Span {
            start: Seconds(start),
            end: Seconds(end),
        }
    }
    pub fn len(&self) -> Seconds {
        Seconds((self.end.0 - self.start.0).max(0.0))
    }
    pub fn is_empty(&self) -> bool {
        self.end.0 <= self.start.0
    }
}
