//! Scoring throughput: 5-minute transcripts scored per second on one core
//! against the inbound-sales card. Run: `cargo bench --bench score`.
//!
//! The transcripts are labelled calls (tests/labelled) stretched to five
//! minutes by repeating their dialogue, so the text is realistic Russian.

use callqa::card;
use callqa::score::score;
use callqa::transcript::Transcript;
use callqa::types::Seconds;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn five_minutes(t: &Transcript) -> Transcript {
    let mut out = t.clone();
    out.segments.clear();
    let len = t.source.duration.0.max(1.0);
    let mut offset = 0.0;
    while offset < 300.0 {
        for s in &t.segments {
            let mut s = s.clone();
            s.start = Seconds(s.start.0 + offset);
            s.end = Seconds(s.end.0 + offset);
            if s.start.0 < 300.0 {
                out.segments.push(s);
            }
        }
        offset += len;
    }
    out.source.duration = Seconds(300.0);
    out
}

fn main() {
    let card = card::load(Path::new("checklists/inbound-sales-ru.yaml")).expect("card");
    let mut calls = Vec::new();
    for i in 1..=8 {
        let p = format!("tests/labelled/calls/inbound-sales-ru--{i:02}.json");
        let t: Transcript =
            serde_json::from_str(&std::fs::read_to_string(&p).expect(&p)).expect(&p);
        calls.push(five_minutes(&t));
    }
    let words: usize = calls
        .iter()
        .map(|t| {
            t.segments
                .iter()
                .map(|s| s.text.split_whitespace().count())
                .sum::<usize>()
        })
        .sum::<usize>()
        / calls.len();
    // Warm up (stem cache, allocator), then measure for about two seconds.
    for t in &calls {
        black_box(score(t, &card));
    }
    // SCORE_BENCH_CALLS=N scores exactly N calls: for counting instructions
    // (`valgrind --tool=callgrind`), which unlike time does not drift.
    let fixed: Option<usize> = std::env::var("SCORE_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok());
    let start = Instant::now();
    let mut n = 0usize;
    while fixed.map_or(start.elapsed().as_secs_f64() < 2.0, |f| n < f) {
        for t in &calls {
            black_box(score(black_box(t), &card));
            n += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if fixed.is_some() {
        return;
    }
    // Where the time goes: splitting and looking up words, and conversation metrics.
    let part = |f: &dyn Fn(usize)| {
        let t0 = Instant::now();
        for _ in 0..50 {
            for i in 0..calls.len() {
                f(i);
            }
        }
        t0.elapsed().as_secs_f64() * 1e6 / (50 * calls.len()) as f64
    };
    let doc_us = part(&|i| {
        black_box(card.matcher.doc(black_box(&calls[i])));
    });
    // As scoring runs them: with the word counts matching already has.
    let counts: Vec<Vec<usize>> = calls
        .iter()
        .map(|t| card.matcher.doc(t).words_per_segment(t.segments.len()))
        .collect();
    let metrics_us = part(&|i| {
        black_box(callqa::metrics::compute_counted(
            black_box(&calls[i]),
            &counts[i],
        ));
    });
    println!("  of which: words (split and looked up) {doc_us:.1} µs, metrics {metrics_us:.1} µs per call");
    println!(
        "score: {n} five-minute calls (~{words} words each) in {secs:.2} s on one thread: {:.0} calls/s, {:.1} µs per call",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}
