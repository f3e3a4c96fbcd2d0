//! `callqa card check` / `card explain` as a QA lead runs them.

use assert_cmd::Command;
use std::path::Path;

fn callqa() -> Command {
    Command::cargo_bin("callqa").unwrap()
}

#[test]
fn example_cards_validate() {
    let mut cards: Vec<_> = std::fs::read_dir("checklists")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cards.sort();
    assert!(cards.len() >= 4, "expected the four example cards");
    let out = callqa()
        .arg("card")
        .arg("check")
        .args(&cards)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(
        stdout.lines().filter(|l| l.contains(": ok")).count(),
        cards.len()
    );
}

/// Every broken card gives `file:line:column: message (hint)` lines and exit 2.
#[test]
fn broken_cards_are_reported_with_positions() {
    let dir = Path::new("tests/cards/bad");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let out = callqa().args(["card", "check"]).arg(&f).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        insta::assert_snapshot!(name, stderr);
    }
}

#[test]
fn one_bad_card_does_not_hide_the_good_ones() {
    let out = callqa()
        .args([
            "card",
            "check",
            "tests/cards/base.yaml",
            "tests/cards/bad/duplicate-id.yaml",
        ])
        .assert()
        .code(2);
    let o = out.get_output();
    assert!(String::from_utf8_lossy(&o.stdout).contains("tests/cards/base.yaml: ok"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("duplicate-id.yaml:6:9: duplicate id"));
}

#[test]
fn explain_shows_stemmed_phrases() {
    let out = callqa()
        .args(["card", "explain", "tests/cards/base.yaml"])
        .assert()
        .success();
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        s.contains(
            "\"отправлю (вам)? коммерческое предложение\" → отправл вам коммерческ предложен"
        ),
        "{s}"
    );
    assert!(s.contains("\"добрый (день|вечер)\" → добр вечер"), "{s}");
    assert!(s.contains("critical, fails the call"));
}

#[test]
fn scoring_refuses_a_broken_card_before_any_work() {
    callqa()
        .args([
            "score",
            "--card",
            "tests/cards/bad/unknown-after.yaml",
            "--transcripts",
            "tests/labelled/calls",
            "--out",
        ])
        .arg(std::env::temp_dir().join("callqa-never-written"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "unknown-after.yaml:5:13: `after` names unknown stage \"presentaton\"",
        ));
    assert!(!std::env::temp_dir().join("callqa-never-written").exists());
}
