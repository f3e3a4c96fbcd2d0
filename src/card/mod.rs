//! Quality cards: parse the YAML a QA lead writes, validate it with positions,
//! and compile it into rules plus one phrase matcher.

pub mod compile;
pub mod locate;
pub mod phrase;
pub mod schema;

pub use compile::{
    compile_str, explain, load, Bucket, CardError, CompiledCard, Problem, Stage, StageKind,
    Violation,
};
pub use schema::{Channels, GoldenSpec, Role, SpeakerSpec};
