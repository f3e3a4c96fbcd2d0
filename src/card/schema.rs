//! The card as QA staff write it: plain serde types, unknown keys rejected.
//! `compile` turns these into the checked, matchable form.

use crate::metrics::MetricRules;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardFile {
    pub card: String,
    pub title: Option<String>,
    pub language: String,
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default)]
    pub channels: Channels,
    #[serde(default)]
    pub fuzzy: bool,
    pub buckets: Option<Buckets>,
    pub stages: Vec<StageSpec>,
    #[serde(default)]
    pub violations: Vec<ViolationSpec>,
    pub golden: Option<GoldenSpec>,
    #[serde(default)]
    pub metrics: MetricRules,
}

fn one() -> u32 {
    1
}

/// A party on a stereo channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Customer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    pub left: Role,
    pub right: Role,
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            left: Role::Agent,
            right: Role::Customer,
        }
    }
}

/// Who a rule listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeakerSpec {
    Agent,
    Customer,
    Any,
}

/// Length buckets in the order written: name → upper bound (exclusive), the
/// last one open-ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets(pub Vec<(String, Option<f64>)>);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BucketSpec {
    max: Option<f64>,
}

impl<'de> Deserialize<'de> for Buckets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Buckets;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of bucket name to { max: seconds }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Buckets, A::Error> {
                let mut out = Vec::new();
                while let Some((name, spec)) = map.next_entry::<String, Option<BucketSpec>>()? {
                    out.push((name, spec.and_then(|s| s.max)));
                }
                Ok(Buckets(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Within {
    pub from_start: Option<f64>,
    pub before_end: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub id: String,
    pub title: Option<String>,
    pub weight: Option<f64>,
    #[serde(default)]
    pub required: bool,
    pub speaker: Option<SpeakerSpec>,
    pub within: Option<Within>,
    #[serde(default)]
    pub after: Vec<String>,
    pub min_hits: Option<u32>,
    pub say: Option<Vec<String>>,
    pub when: Option<Trigger>,
    pub then: Option<Answer>,
}

/// The event that makes a reply stage applicable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub speaker: Option<SpeakerSpec>,
    pub say: Vec<String>,
}

/// The answer a reply stage requires after each trigger.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub speaker: Option<SpeakerSpec>,
    pub within: Option<f64>,
    pub say: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViolationSpec {
    pub id: String,
    pub title: Option<String>,
    pub speaker: Option<SpeakerSpec>,
    pub say: Vec<String>,
    #[serde(default)]
    pub except: Vec<String>,
    pub penalty: Option<f64>,
    pub max_penalty: Option<f64>,
    #[serde(default)]
    pub critical: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoldenSpec {
    #[serde(default = "default_min_score")]
    pub min_score: f64,
    #[serde(default = "default_top")]
    pub top: usize,
    #[serde(default)]
    pub exclude_buckets: Vec<String>,
    pub max_violations: Option<u32>,
}

fn default_min_score() -> f64 {
    85.0
}
fn default_top() -> usize {
    20
}
