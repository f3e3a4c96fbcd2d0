//! `callqa regress`: drift is caught, explained, and cleared by `--update`.
//! Runs on stored transcripts, so no model is needed.

use assert_cmd::Command;
use std::path::Path;

fn callqa() -> Command {
    Command::cargo_bin("callqa").unwrap()
}

/// Copies the inbound-sales calls of the labelled set; returns how many.
fn copy_calls(to: &Path) -> usize {
    std::fs::create_dir_all(to).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir("tests/labelled/calls").unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("inbound-sales-ru--") {
            std::fs::copy(&p, to.join(name)).unwrap();
            n += 1;
        }
    }
    n
}

fn regress(card: &Path, expect: &Path, calls: &Path, update: bool) -> assert_cmd::assert::Assert {
    let mut c = callqa();
    c.arg("regress")
        .arg("--card")
        .arg(card)
        .arg("--expect")
        .arg(expect)
        .arg("--transcripts")
        .arg(calls);
    if update {
        c.arg("--update");
    }
    c.assert()
}

#[test]
fn removing_a_stages_phrases_is_drift_until_updated() {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let n = copy_calls(&calls);
    assert!(n >= 8, "{n} calls");
    let card = dir.path().join("card.yaml");
    let original = std::fs::read_to_string("checklists/inbound-sales-ru.yaml").unwrap();
    std::fs::write(&card, &original).unwrap();
    let expect = dir.path().join("expected.yaml");

    regress(&card, &expect, &calls, true).success();
    regress(&card, &expect, &calls, false)
        .success()
        .stdout(predicates::str::contains(format!("{n} matched, 0 drifted")));

    // A QA lead trims the closing stage to a phrase nobody says.
    let card_yaml: serde_yaml::Value = serde_yaml::from_str(&original).unwrap();
    let mut card_yaml = card_yaml;
    let stages = card_yaml["stages"].as_sequence_mut().unwrap();
    let closing = stages.iter_mut().find(|s| s["id"] == "closing").unwrap();
    closing["say"] = serde_yaml::to_value(vec!["оформим сделку прямо сейчас по телефону"]).unwrap();
    std::fs::write(&card, serde_yaml::to_string(&card_yaml).unwrap()).unwrap();

    let out = regress(&card, &expect, &calls, false).code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains("DRIFT inbound-sales-ru--01.wav"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stage closing: expected passed, got failed (not said by the agent)"),
        "{stdout}"
    );
    assert!(stdout.contains("score: expected"), "{stdout}");

    regress(&card, &expect, &calls, true).success();
    regress(&card, &expect, &calls, false)
        .success()
        .stdout(predicates::str::contains("0 drifted"));
}

#[test]
fn a_missing_call_is_drift_too() {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    copy_calls(&calls);
    let card = Path::new("checklists/inbound-sales-ru.yaml");
    let expect = dir.path().join("expected.yaml");
    regress(card, &expect, &calls, true).success();
    std::fs::remove_file(calls.join("inbound-sales-ru--03.json")).unwrap();
    regress(card, &expect, &calls, false)
        .code(1)
        .stdout(predicates::str::contains(
            "MISSING inbound-sales-ru--03.wav",
        ));
}
