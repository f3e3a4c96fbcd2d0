//! The scoring engine on hand-written transcripts: no audio, no model.

use callqa::card::{self, CompiledCard};
use callqa::score::{score, CallResult, Outcome, QuotePart};
use callqa::transcript::{Segment, SourceInfo, Transcript, TRANSCRIPT_SCHEMA};
use callqa::types::{Seconds, Speaker};
use std::path::Path;

const A: Speaker = Speaker::Agent;
const C: Speaker = Speaker::Customer;

fn card() -> CompiledCard {
    card::load(Path::new("tests/cards/base.yaml")).unwrap()
}

fn call(duration: f64, segs: &[(f64, Speaker, &str)]) -> Transcript {
    Transcript {
        schema: TRANSCRIPT_SCHEMA.into(),
        source: SourceInfo {
            path: "call.wav".into(),
            sha256: String::new(),
            duration: Seconds(duration),
            channels: if segs.iter().any(|s| s.1 == Speaker::Unknown) {
                1
            } else {
                2
            },
            sample_rate: 8000,
            codec: "test".into(),
        },
        recognition: None,
        regions: vec![],
        segments: segs
            .iter()
            .map(|&(start, speaker, text)| Segment {
                start: Seconds(start),
                end: Seconds(start + 3.0),
                speaker,
                text: text.into(),
            })
            .collect(),
        warnings: vec![],
    }
}

fn outcome(r: &CallResult, id: &str) -> Outcome {
    r.stage(id).unwrap().outcome
}

fn good_call() -> Transcript {
    call(
        90.0,
        &[
            (1.0, A, "Здравствуйте, компания Ромашка."),
            (5.0, C, "Добрый день."),
            (10.0, A, "Мы предлагаем доставку воды."),
            (20.0, C, "Дорого у вас."),
            (24.0, A, "Понимаю вас, именно поэтому есть скидка."),
            (40.0, A, "Отправлю вам коммерческое предложение сегодня."),
        ],
    )
}

#[test]
fn a_complete_call_scores_full_marks_with_evidence() {
    let r = score(&good_call(), &card());
    assert_eq!(r.score, 100.0, "{:#?}", r.errors);
    assert!(!r.failed);
    assert_eq!(r.bucket, "medium");
    let g = r.stage("greeting").unwrap();
    assert_eq!(g.evidence[0].quote, "Здравствуйте");
    assert_eq!(g.evidence[0].speaker, A);
    assert_eq!(g.evidence[0].start, Seconds(1.0));
    assert_eq!(
        g.evidence[0].parts,
        [QuotePart {
            segment: 0,
            start: 0,
            end: "Здравствуйте".len()
        }]
    );
    let c = r.stage("closing").unwrap();
    assert_eq!(c.evidence[0].quote, "Отправлю вам коммерческое предложение");
    assert_eq!(
        &*c.evidence[0].phrase,
        "отправлю (вам)? коммерческое предложение"
    );
    let o = r.stage("objection_handling").unwrap();
    assert_eq!(o.outcome, Outcome::Passed);
    assert_eq!(o.evidence[0].role.as_deref(), Some("trigger"));
    assert_eq!(o.evidence[1].role.as_deref(), Some("answer"));
}

#[test]
fn greeting_outside_its_window_fails_and_is_an_error() {
    let t = call(
        90.0,
        &[(30.0, A, "Здравствуйте!"), (40.0, A, "Мы предлагаем окна.")],
    );
    let r = score(&t, &card());
    assert_eq!(outcome(&r, "greeting"), Outcome::Failed);
    assert!(
        r.errors
            .iter()
            .any(|e| e.starts_with("greeting: not said by the agent in the first 20 s")),
        "{:?}",
        r.errors
    );
}

#[test]
fn greeting_by_the_customer_does_not_count() {
    let t = call(60.0, &[(1.0, C, "Здравствуйте"), (3.0, A, "Да, слушаю.")]);
    let r = score(&t, &card());
    assert_eq!(outcome(&r, "greeting"), Outcome::Failed);
    assert!(r
        .stage("greeting")
        .unwrap()
        .reason
        .as_ref()
        .unwrap()
        .contains("closest: customer said"));
}

#[test]
fn closing_before_presentation_is_an_order_break() {
    let t = call(
        90.0,
        &[
            (1.0, A, "Здравствуйте"),
            (5.0, A, "Давайте встретимся в среду."),
            (20.0, A, "Мы предлагаем окна."),
        ],
    );
    let r = score(&t, &card());
    assert_eq!(outcome(&r, "closing"), Outcome::Failed);
    assert!(
        r.errors.iter().any(|e| e.contains("out of order")),
        "{:?}",
        r.errors
    );
}

#[test]
fn no_objection_means_not_applicable_and_out_of_the_total() {
    let mut t = good_call();
    t.segments
        .retain(|s| !s.text.contains("Дорого") && !s.text.contains("Понимаю"));
    let r = score(&t, &card());
    assert_eq!(outcome(&r, "objection_handling"), Outcome::NotApplicable);
    assert_eq!(r.score, 100.0);
}

#[test]
fn an_unanswered_objection_fails_the_stage() {
    let mut t = good_call();
    t.segments.retain(|s| !s.text.contains("Понимаю"));
    let r = score(&t, &card());
    assert_eq!(outcome(&r, "objection_handling"), Outcome::Failed);
    // 30 of 40 weight points passed.
    assert_eq!(r.score, 75.0);
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("unanswered within 20 s")),
        "{:?}",
        r.errors
    );
}

#[test]
fn an_answer_after_the_window_does_not_count() {
    let t = call(
        120.0,
        &[
            (1.0, A, "Здравствуйте"),
            (10.0, C, "Я подумаю."),
            (60.0, A, "Понимаю вас."),
        ],
    );
    assert_eq!(
        outcome(&score(&t, &card()), "objection_handling"),
        Outcome::Failed
    );
}

#[test]
fn a_critical_violation_fails_the_call() {
    let mut t = good_call();
    t.segments.push(Segment {
        start: Seconds(60.0),
        end: Seconds(62.0),
        speaker: A,
        text: "Это не ко мне, звоните в бухгалтерию.".into(),
    });
    let r = score(&t, &card());
    assert!(r.failed);
    assert_eq!(r.score, 0.0);
    assert!(r.errors.iter().any(|e| e.contains("rudeness (critical)")));
}

#[test]
fn a_misheard_rude_phrase_is_not_matched() {
    // Whisper wrote «нико» for «не ко»: whole-word matching (even fuzzy, one
    // letter per word) cannot bridge a merged word, and we do not guess.
    let mut t = good_call();
    t.segments.push(Segment {
        start: Seconds(60.0),
        end: Seconds(62.0),
        speaker: A,
        text: "Это нико мне.".into(),
    });
    let r = score(&t, &card());
    assert!(!r.failed);
}

#[test]
fn filler_penalties_are_capped_and_legitimate_uses_excused() {
    let mut t = good_call();
    for (i, text) in [
        "Ну как бы да.",
        "Типа того.",
        "Короче, так.",
        "Как бы вам было удобнее?",
        "Это часть прототипа.",
        "Короче говоря.",
    ]
    .iter()
    .enumerate()
    {
        t.segments.push(Segment {
            start: Seconds(50.0 + i as f64 * 5.0),
            end: Seconds(52.0 + i as f64 * 5.0),
            speaker: A,
            text: (*text).into(),
        });
    }
    let r = score(&t, &card());
    let f = r
        .violations
        .iter()
        .find(|v| v.id.0 == "filler-words")
        .unwrap();
    // «как бы», «типа», «короче» ×2; not «как бы вам было удобнее», not «прототипа».
    assert_eq!(f.hits, 4);
    assert_eq!(f.penalty, 6.0, "capped at max_penalty");
    assert_eq!(r.score, 94.0);
}

#[test]
fn negated_closing_does_not_count() {
    let mut t = good_call();
    t.segments.retain(|s| !s.text.starts_with("Отправлю"));
    t.segments.push(Segment {
        start: Seconds(40.0),
        end: Seconds(43.0),
        speaker: A,
        text: "Нет, я не отправлю вам коммерческое предложение.".into(),
    });
    assert_eq!(outcome(&score(&t, &card()), "closing"), Outcome::Failed);
}

#[test]
fn mono_calls_match_either_party_and_say_so() {
    let t = call(
        30.0,
        &[
            (1.0, Speaker::Unknown, "Здравствуйте"),
            (5.0, Speaker::Unknown, "Мы предлагаем окна"),
        ],
    );
    let r = score(&t, &card());
    assert!(!r.speakers_verified);
    assert_eq!(outcome(&r, "greeting"), Outcome::Passed);
    assert_eq!(r.bucket, "short");
}

#[test]
fn buckets_follow_the_card() {
    let c = card();
    assert_eq!(c.bucket_for(Seconds(39.9)), "short");
    assert_eq!(c.bucket_for(Seconds(40.0)), "medium");
    assert_eq!(c.bucket_for(Seconds(299.0)), "medium");
    assert_eq!(c.bucket_for(Seconds(300.0)), "long");
}

#[test]
fn golden_fund_takes_the_best_per_bucket() {
    let c = card();
    let mut calls = Vec::new();
    for (name, drop_closing, dur) in [
        ("a.wav", false, 90.0),
        ("b.wav", true, 90.0),
        ("c.wav", false, 90.0),
        ("d.wav", false, 91.0),
        ("s.wav", false, 30.0),
    ] {
        let mut t = good_call();
        t.source.path = name.into();
        t.source.duration = Seconds(dur);
        if drop_closing {
            t.segments.retain(|s| !s.text.starts_with("Отправлю"));
        }
        calls.push(score(&t, &c));
    }
    let g = callqa::golden::select(&calls, c.golden.as_ref());
    let names: Vec<&str> = g.iter().map(|e| e.call.as_str()).collect();
    // b scores 60 (< 80), s is short (excluded), top 2 per bucket by score then name.
    assert_eq!(names, ["a.wav", "c.wav"]);
    assert!(
        g[0].why
            .contains("#1 of 3 qualifying call(s) in the medium bucket"),
        "{}",
        g[0].why
    );
}

#[test]
fn results_are_versioned_json() {
    let r = score(&good_call(), &card());
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["schema"], "callqa.result/1");
    assert_eq!(v["stages"][0]["outcome"], "passed");
    assert!(v["metrics"]["agent_talk_share"].is_number());
}

#[test]
fn one_mention_counts_once_toward_min_hits() {
    // The inbound card's introduction needs two things said (name and
    // company); «меня зовут *» and its list of names both match «меня зовут
    // Анна», which is still one mention.
    let card = card::load(Path::new("checklists/inbound-sales-ru.yaml")).unwrap();
    let intro = |text: &str| {
        let t = call(60.0, &[(1.0, A, text), (10.0, C, "Добрый день.")]);
        outcome(&score(&t, &card), "introduction")
    };
    assert_eq!(intro("Здравствуйте, меня зовут Анна."), Outcome::Failed);
    assert_eq!(
        intro("Здравствуйте, меня зовут Анна, компания Ромашка."),
        Outcome::Passed
    );
    assert_eq!(
        intro("Компания Ромашка, Анна, здравствуйте."),
        Outcome::Passed
    );
}
