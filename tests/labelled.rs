//! Precision and recall of the example cards on the labelled set
//! (tests/labelled: transcripts labelled by meaning, independently of the
//! cards' phrases). Run with `--nocapture` to see the table.

use callqa::card;
use callqa::score::{score, Outcome};
use callqa::transcript::Transcript;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
struct Label {
    call: String,
    card: String,
    stages: BTreeMap<String, String>,
    violations: BTreeMap<String, bool>,
}

#[derive(Default)]
struct Count {
    tp: u32,
    fp: u32,
    fn_: u32,
    tn: u32,
}

impl Count {
    fn add(&mut self, truth: bool, found: bool) {
        match (truth, found) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn agree(&self) -> u32 {
        self.tp + self.tn
    }
    fn total(&self) -> u32 {
        self.tp + self.fp + self.fn_ + self.tn
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

struct Evaluation {
    per: BTreeMap<(String, String), Count>,
    all: Count,
    /// Overall counts for the tuning half and the held-out half (see [`half`]).
    tuning: Count,
    held_out: Count,
    disagreements: Vec<String>,
}

impl Evaluation {
    /// One judgement of `rule` on a call of `card`: counted for the rule,
    /// overall, and in the call's half of the split.
    fn count(&mut self, card: &str, rule: String, tuning: bool, truth: bool, found: bool) {
        self.per
            .entry((card.to_string(), rule))
            .or_default()
            .add(truth, found);
        self.all.add(truth, found);
        let half = if tuning {
            &mut self.tuning
        } else {
            &mut self.held_out
        };
        half.add(truth, found);
    }
}

/// Deterministic tuning / held-out split of the labelled calls: the call
/// number after `--` in `<card>--<nn>.json`, odd = tuning, even = held-out.
/// Each card has calls 01..08, so each card has four calls in each half.
/// Phrase lists may be tuned by reading the tuning calls only; the held-out
/// half measures whether the tuning generalises.
fn is_tuning(call: &str) -> bool {
    let n: u32 = call
        .rsplit_once("--")
        .and_then(|(_, rest)| rest.strip_suffix(".json"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{call}: expected <card>--<nn>.json"));
    n % 2 == 1
}

fn half(call: &str) -> &'static str {
    if is_tuning(call) {
        "tuning"
    } else {
        "held-out"
    }
}

/// Scores every labelled call with its card (`fuzzy` switched as asked) and
/// counts agreement with the labels.
fn evaluate(labels: &[Label], fuzzy: bool) -> Evaluation {
    let mut ev = Evaluation {
        per: BTreeMap::new(),
        all: Count::default(),
        tuning: Count::default(),
        held_out: Count::default(),
        disagreements: Vec::new(),
    };
    let mut cards = BTreeMap::new();
    for l in labels {
        let c = cards.entry(l.card.clone()).or_insert_with(|| {
            let path = format!("checklists/{}.yaml", l.card);
            let src = std::fs::read_to_string(&path).unwrap();
            let (from, to) = if fuzzy {
                ("\nfuzzy: false", "\nfuzzy: true")
            } else {
                ("\nfuzzy: true", "\nfuzzy: false")
            };
            assert!(
                src.contains(from) || src.contains(to),
                "{path}: expected an explicit `fuzzy:` line to switch"
            );
            let src = src.replace(from, to);
            card::compile_str(&src, Path::new(&path)).unwrap()
        });
        let t: Transcript = serde_json::from_str(
            &std::fs::read_to_string(format!("tests/labelled/calls/{}", l.call)).unwrap(),
        )
        .unwrap();
        let r = score(&t, c);
        let tuning = is_tuning(&l.call);
        for (stage, truth) in &l.stages {
            let got = r
                .stage(stage)
                .unwrap_or_else(|| panic!("{}: card has no stage {stage}", l.card))
                .outcome;
            // Not applicable is judged as "not passed" on both sides.
            let truth_pass = truth == "pass";
            let found = got == Outcome::Passed;
            ev.count(&l.card, stage.clone(), tuning, truth_pass, found);
            if truth_pass != found {
                ev.disagreements.push(format!(
                    "[{}] {} {stage}: labelled {truth}, got {got:?}",
                    half(&l.call),
                    l.call
                ));
            }
        }
        for (v, truth) in &l.violations {
            let found = r.violations.iter().any(|x| &x.id.0 == v);
            ev.count(&l.card, format!("violation:{v}"), tuning, *truth, found);
            if *truth != found {
                ev.disagreements.push(format!(
                    "[{}] {} violation {v}: labelled {truth}, found {found}",
                    half(&l.call),
                    l.call
                ));
            }
        }
    }
    ev
}

fn summary(name: &str, all: &Count) -> String {
    format!(
        "{name}: precision {:.2}, recall {:.2}, agreement {}/{} ({:.1}%)",
        all.precision(),
        all.recall(),
        all.agree(),
        all.total(),
        100.0 * all.agree() as f64 / all.total() as f64
    )
}

#[test]
fn example_cards_precision_and_recall() {
    let labels: Vec<Label> =
        serde_yaml::from_str(&std::fs::read_to_string("tests/labelled/labels.yaml").unwrap())
            .unwrap();
    assert!(labels.len() >= 30);
    // Every card must have calls in both halves of the split.
    let mut halves: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for l in &labels {
        let e = halves.entry(l.card.as_str()).or_default();
        if is_tuning(&l.call) {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    for (card, (tuning, held_out)) in &halves {
        assert!(
            *tuning > 0 && *held_out > 0,
            "{card}: {tuning} tuning and {held_out} held-out calls; both halves need calls"
        );
    }
    let exact = evaluate(&labels, false);
    let fuzzy = evaluate(&labels, true);
    println!(
        "{:<18} {:<28} {:>4} {:>4} {:>4} {:>4}  {:>9} {:>6}",
        "card", "rule", "TP", "FP", "FN", "TN", "precision", "recall"
    );
    for ((c, s), n) in &exact.per {
        println!(
            "{c:<18} {s:<28} {:>4} {:>4} {:>4} {:>4}  {:>9.2} {:>6.2}",
            n.tp,
            n.fp,
            n.fn_,
            n.tn,
            n.precision(),
            n.recall()
        );
    }
    println!(
        "{}",
        summary("tuning (odd calls) with fuzzy: false", &exact.tuning)
    );
    println!(
        "{}",
        summary("held-out (even calls) with fuzzy: false", &exact.held_out)
    );
    println!("{}", summary("overall with fuzzy: false", &exact.all));
    println!("{}", summary("overall with fuzzy: true", &fuzzy.all));
    for d in &exact.disagreements {
        println!("  {d}");
    }
    // Regression guards. Measured when the cards were written (32 calls):
    // exact 0.97 / 0.59, fuzzy 0.97 / 0.61. v2 cards, tuned on the odd calls
    // only: 1.00 / 0.77. With the second batch of 32 calls (64 in all) the
    // v2 cards gave 0.97 / 0.68; v3, tuned on the odd calls of both batches:
    // 0.96 / 0.78 (held-out half 0.93 / 0.62). A card or matcher change that
    // loses ground fails here. The example cards keep fuzzy matching off: its
    // gain here is small, and on the sample calls it turned «вы ошиблись
    // (номером)» into a banned «вы ошибаетесь».
    assert!(
        exact.all.precision() >= 0.95,
        "precision fell to {:.2}",
        exact.all.precision()
    );
    assert!(
        exact.all.recall() >= 0.75,
        "recall fell to {:.2}",
        exact.all.recall()
    );
    assert!(
        fuzzy.all.precision() >= 0.95,
        "fuzzy precision fell to {:.2}",
        fuzzy.all.precision()
    );
    assert!(
        fuzzy.all.recall() >= exact.all.recall(),
        "fuzzy matching lost recall"
    );
}
