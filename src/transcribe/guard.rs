//! Whisper's failure modes on call audio: stock phrases learnt from video
//! subtitles, invented in silence or noise, and repetition loops.

use crate::text;
use crate::transcript::Segment;

/// Normalised phrases Whisper produces from nothing. A segment that is only
/// one of these is dropped.
const STOCK: &[&str] = &[
    "продолжение следует",
    "субтитры сделал dimatorzok",
    "субтитры создавал dimatorzok",
    "субтитры делал dimatorzok",
    "редактор субтитров а синецкая корректор а егорова",
    "спасибо за просмотр",
    "я не знаю что это было",
    "подписывайтесь на канал",
    "ставьте лайки",
    "thank you for watching",
    "thanks for watching",
    "subtitles by the amara org community",
];

const STOCK_PREFIXES: &[&str] = &["субтитры", "редактор субтитров", "корректор"];

fn is_stock(norm: &str) -> bool {
    STOCK.contains(&norm)
        || STOCK_PREFIXES
            .iter()
            .any(|p| norm.starts_with(p) && norm.split(' ').count() <= 8)
}

/// Collapses a run of the same 1–4 words repeated more than three times
/// («да да да да да да…»). Returns None when nothing repeats.
fn collapse_loops(s: &str) -> Option<String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let norm: Vec<String> = words.iter().map(|w| text::normalise(w)).collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    let mut changed = false;
    while i < words.len() {
        let mut skipped = false;
        for n in 1..=4 {
            let mut reps = 1;
            while i + (reps + 1) * n <= words.len()
                && norm[i..i + n] == norm[i + reps * n..i + (reps + 1) * n]
            {
                reps += 1;
            }
            if reps > 3 {
                out.extend(&words[i..i + n]);
                i += reps * n;
                changed = true;
                skipped = true;
                break;
            }
        }
        if !skipped {
            out.push(words[i]);
            i += 1;
        }
    }
    changed.then(|| out.join(" "))
}

/// Drops invented segments and collapses loops; returns warnings saying what
/// was changed, so nothing disappears silently.
pub fn clean(segments: Vec<Segment>) -> (Vec<Segment>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut out = Vec::with_capacity(segments.len());
    for mut s in segments {
        let norm = text::normalise(&s.text);
        if norm.is_empty() {
            continue;
        }
        if is_stock(&norm) {
            warnings.push(format!(
                "dropped a likely hallucination at {}: {:?}",
                s.start, s.text
            ));
            continue;
        }
        if let Some(c) = collapse_loops(&s.text) {
            warnings.push(format!("collapsed a repetition loop at {}", s.start));
            s.text = c;
        }
        out.push(s);
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Seconds, Speaker};

    fn seg(text: &str) -> Segment {
        Segment {
            start: Seconds(1.0),
            end: Seconds(2.0),
            speaker: Speaker::Agent,
            text: text.into(),
        }
    }

    #[test]
    fn drops_stock_phrases_only_when_whole() {
        let (out, w) = clean(vec![
            seg("Продолжение следует..."),
            seg("Субтитры сделал DimaTorzok"),
            seg("Я не знаю, что это было."),
            seg("Спасибо за звонок, продолжение следует завтра."),
        ]);
        assert_eq!(out.len(), 1);
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn collapses_repetition_loops() {
        let (out, _) = clean(vec![seg("Да, да, да, да, да, да, хорошо")]);
        assert_eq!(out[0].text, "Да, хорошо");
        let (out, _) = clean(vec![seg(
            "спасибо большое спасибо большое спасибо большое спасибо большое",
        )]);
        assert_eq!(out[0].text, "спасибо большое");
        let (out, w) = clean(vec![seg("да да да")]);
        assert_eq!(out[0].text, "да да да");
        assert!(w.is_empty());
    }
}
