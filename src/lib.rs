//! callqa: score call-centre recordings against quality cards, locally.
//!
//! The data flow, one module per stage: [`batch`] finds the calls, [`audio`]
//! decodes them and finds speech, [`transcribe`] recognises it, [`text`] and
//! [`matcher`] find card phrases, [`score`] judges the call against a
//! [`card`], [`metrics`] measures how it sounded, [`report`] writes the
//! results and [`regress`] compares them with expectations.

pub mod app;
pub mod audio;
pub mod batch;
pub mod card;
pub mod files;
pub mod golden;
pub mod matcher;
pub mod meta;
pub mod metrics;
pub mod model;
pub mod regress;
pub mod report;
pub mod score;
pub mod text;
pub mod transcribe;
pub mod transcript;
pub mod types;
