//! Conversation metrics on the stereo sample calls agree with the dialog
//! scripts' timing (the generator's truth files): talk shares within 5
//! percentage points, every silence over 3 s found. Speech regions come from
//! the audio alone, so no model is needed.

use callqa::audio::{self, RegionParams, TARGET_RATE};
use callqa::metrics;
use callqa::transcript::{Region, SourceInfo, Transcript, TRANSCRIPT_SCHEMA};
use callqa::types::{Seconds, Span, Speaker};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct Truth {
    duration: f64,
    channels: u16,
    turns: Vec<Turn>,
}

#[derive(Deserialize)]
struct Turn {
    speaker: Speaker,
    start: f64,
    end: f64,
}

fn regions_of(path: &Path) -> (Vec<Region>, f64) {
    let a = audio::decode(path, 3600.0).unwrap();
    let speakers = [Speaker::Agent, Speaker::Customer];
    let mut out = Vec::new();
    for (ch, samples) in a.channels.iter().enumerate() {
        let pcm = audio::resample(samples, a.sample_rate, TARGET_RATE);
        for span in audio::speech_regions(&pcm, TARGET_RATE, &RegionParams::default()) {
            out.push(Region {
                speaker: speakers[ch],
                span,
            });
        }
    }
    (out, a.duration())
}

fn transcript(regions: Vec<Region>, duration: f64) -> Transcript {
    Transcript {
        schema: TRANSCRIPT_SCHEMA.into(),
        source: SourceInfo {
            path: String::new(),
            sha256: String::new(),
            duration: Seconds(duration),
            channels: 2,
            sample_rate: 16_000,
            codec: String::new(),
        },
        recognition: None,
        regions,
        segments: vec![],
        warnings: vec![],
    }
}

#[test]
fn stereo_sample_metrics_match_the_scripts() {
    let mut checked = 0;
    for e in std::fs::read_dir("samples/truth").unwrap() {
        let p = e.unwrap().path();
        let truth: Truth = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        if truth.channels != 2 {
            continue;
        }
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        let audio = ["wav", "mp3"]
            .iter()
            .map(|x| Path::new("samples/audio").join(format!("{stem}.{x}")))
            .find(|a| a.exists())
            .unwrap();
        let (found, duration) = regions_of(&audio);
        let got = metrics::compute(&transcript(found, duration));
        let truth_regions = truth
            .turns
            .iter()
            .map(|t| Region {
                speaker: t.speaker,
                span: Span::new(t.start, t.end),
            })
            .collect();
        let want = metrics::compute(&transcript(truth_regions, truth.duration));

        for (who, g, w) in [
            ("agent", got.agent_talk_share, want.agent_talk_share),
            (
                "customer",
                got.customer_talk_share,
                want.customer_talk_share,
            ),
        ] {
            let (g, w) = (g.unwrap(), w.unwrap());
            println!(
                "{stem} {who} talk share: found {:.1} %, script {:.1} %",
                g * 100.0,
                w * 100.0
            );
            assert!(
                (g - w).abs() <= 0.05,
                "{stem}: {who} talk share {g:.3} vs script {w:.3}"
            );
        }
        for s in &want.silences_over {
            let hit = got
                .silences_over
                .iter()
                .any(|f| f.start.0 < s.end.0 && s.start.0 < f.end.0);
            println!(
                "{stem} silence {:.1}–{:.1} s: {}",
                s.start.0,
                s.end.0,
                if hit { "found" } else { "MISSED" }
            );
            assert!(
                hit,
                "{stem}: silence {:.1}–{:.1} s not found in {:?}",
                s.start.0, s.end.0, got.silences_over
            );
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} stereo samples checked");
}
