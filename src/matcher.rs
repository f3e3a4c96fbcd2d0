//! Finding card phrases in a transcript: one Aho-Corasick pass over the
//! normalised (and stemmed) words of the whole call, then a cheap check of
//! each candidate for wildcards, speaker turns and negation.

use crate::card::phrase::PatWord;
use crate::text::{self, Lang};
use crate::transcript::Transcript;
use crate::types::{Seconds, Speaker};
use aho_corasick::{AhoCorasick, AhoCorasickKind};
use std::collections::{HashMap, HashSet};

/// An expanded phrase variant to look for, owned by phrase `phrase` of the card.
#[derive(Debug, Clone)]
pub struct PatternSpec {
    pub phrase: usize,
    pub words: Vec<PatWord>,
    pub exact: bool,
}

#[derive(Debug)]
struct Pattern {
    phrase: usize,
    /// Comparison keys (stem, or normalised word when exact); `None` = `*`.
    keys: Vec<Option<String>>,
    exact: bool,
    first_norm: Option<String>,
}

/// One automaton per key kind (stemmed / exact); each automaton pattern is a
/// literal anchor shared by the phrase variants listed for it.
#[derive(Debug)]
struct Index {
    ac: AhoCorasick,
    /// anchor → (pattern, words before the anchor in that pattern)
    owners: Vec<Vec<(usize, usize)>>,
}

#[derive(Debug)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    index: [Option<Index>; 2],
    lang: Lang,
    /// Stemmed pattern words that a one-letter recognition error may reach.
    fuzzy_vocab: Option<Vec<String>>,
}

/// A word of the call, as the matcher sees it. Its normalised form and key
/// live in the document's haystacks ([`Doc::norm`], [`Doc::key`]).
#[derive(Debug, Clone)]
pub struct DocWord {
    pub segment: usize,
    pub speaker: Speaker,
    /// Words of one speaker's uninterrupted turn share a block; phrases never
    /// span two blocks.
    pub block: usize,
    pub start: Seconds,
    pub end: Seconds,
    /// Byte range in the segment's text.
    pub bytes: (usize, usize),
}

/// A call tokenised for matching: its words, and two haystacks of them
/// separated by spaces: their keys (stems, [`KEYS`]) and their normalised
/// forms ([`NORMS`]), with each word's byte range in both. One buffer per
/// kind instead of two strings per word.
#[derive(Debug)]
pub struct Doc {
    pub words: Vec<DocWord>,
    text: [String; 2],
    spans: [Vec<(u32, u32)>; 2],
}

const KEYS: usize = 0;
const NORMS: usize = 1;

impl Doc {
    fn text(&self, kind: usize, word: usize) -> &str {
        let (s, e) = self.spans[kind][word];
        &self.text[kind][s as usize..e as usize]
    }

    /// Word `i` normalised (lower case, «ё» folded).
    pub fn norm(&self, i: usize) -> &str {
        self.text(NORMS, i)
    }

    /// Word `i` as compared with non-exact phrases (its stem).
    pub fn key(&self, i: usize) -> &str {
        self.text(KEYS, i)
    }
}

/// A phrase found at words `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub phrase: usize,
    pub first: usize,
    pub last: usize,
}

const BLOCK_BREAK: &str = " \u{1}";
const FUZZY_MIN_CHARS: usize = 5;

impl Matcher {
    pub fn new(specs: Vec<PatternSpec>, lang: Lang, fuzzy: bool) -> Matcher {
        let mut patterns = Vec::with_capacity(specs.len());
        let mut anchors: [HashMap<String, Vec<(usize, usize)>>; 2] = Default::default();
        let mut vocab = HashSet::new();
        for spec in specs {
            let keys: Vec<Option<String>> = spec
                .words
                .iter()
                .map(|w| match w {
                    PatWord::Word(n) if spec.exact => Some(n.clone()),
                    PatWord::Word(n) => Some(lang.stem(n)),
                    PatWord::Any => None,
                })
                .collect();
            if !spec.exact {
                vocab.extend(
                    keys.iter()
                        .flatten()
                        .filter(|k| k.chars().count() >= FUZZY_MIN_CHARS)
                        .cloned(),
                );
            }
            let start = keys.iter().position(Option::is_some).unwrap_or(0);
            let run: Vec<&str> = keys[start..].iter().map_while(|k| k.as_deref()).collect();
            let anchor = format!(" {} ", run.join(" "));
            anchors[if spec.exact { NORMS } else { KEYS }]
                .entry(anchor)
                .or_default()
                .push((patterns.len(), start));
            let first_norm = match spec.words.first() {
                Some(PatWord::Word(n)) => Some(n.clone()),
                _ => None,
            };
            patterns.push(Pattern {
                phrase: spec.phrase,
                keys,
                exact: spec.exact,
                first_norm,
            });
        }
        let index = anchors.map(|m| {
            if m.is_empty() {
                return None;
            }
            let (strings, owners): (Vec<String>, Vec<_>) = m.into_iter().unzip();
            // A DFA: built once per card, and the fastest at overlapping search.
            let ac = AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::DFA))
                .build(&strings)
                .expect("anchors are plain strings");
            Some(Index { ac, owners })
        });
        let mut fuzzy_vocab: Option<Vec<String>> = fuzzy.then(|| vocab.into_iter().collect());
        if let Some(v) = fuzzy_vocab.as_mut() {
            v.sort();
        }
        Matcher {
            patterns,
            index,
            lang,
            fuzzy_vocab,
        }
    }

    pub fn lang(&self) -> &Lang {
        &self.lang
    }

    /// Tokenises a transcript once; every rule of a card then reads this.
    /// After the first calls every stem comes from the cache, so a word
    /// costs no allocation.
    pub fn doc(&self, t: &Transcript) -> Doc {
        let mut words: Vec<DocWord> = Vec::new();
        let mut store = [String::new(), String::new()];
        let mut spans = [Vec::new(), Vec::new()];
        let mut norm_buf = String::new();
        let mut block = 0usize;
        let mut fuzzy_cache: HashMap<String, String> = HashMap::new();
        self.lang.with_stems(|stems| {
            for (si, seg) in t.segments.iter().enumerate() {
                if si > 0 && t.segments[si - 1].speaker != seg.speaker {
                    block += 1;
                }
                // Word times are interpolated by character position.
                let chars = seg.text.chars().count().max(1) as f64;
                let span = (seg.end.0 - seg.start.0).max(0.0);
                let at =
                    |char_index: usize| Seconds(seg.start.0 + span * char_index as f64 / chars);
                text::for_each_word(&seg.text, &mut norm_buf, |w, norm| {
                    // Phrases never span two turns: a separator no anchor contains.
                    if words.last().is_some_and(|w| w.block != block) {
                        store.iter_mut().for_each(|h| h.push_str(BLOCK_BREAK));
                    }
                    for kind in [KEYS, NORMS] {
                        let h = &mut store[kind];
                        h.push(' ');
                        let from = h.len();
                        match (kind, &self.fuzzy_vocab) {
                            (NORMS, _) => h.push_str(norm),
                            (_, None) => stems.stem_into(norm, h),
                            (_, Some(vocab)) => {
                                let mut key = String::new();
                                stems.stem_into(norm, &mut key);
                                let near = fuzzy_cache
                                    .entry(key)
                                    .or_insert_with_key(|k| nearest(k, vocab).unwrap_or(k.clone()));
                                h.push_str(near);
                            }
                        }
                        spans[kind].push((from as u32, h.len() as u32));
                    }
                    words.push(DocWord {
                        start: at(w.start_char),
                        end: at(w.end_char),
                        segment: si,
                        speaker: seg.speaker,
                        block,
                        bytes: (w.start, w.end),
                    });
                });
            }
        });
        store.iter_mut().for_each(|h| h.push(' '));
        Doc {
            words,
            text: store,
            spans,
        }
    }

    /// Every place a phrase occurs, sorted by position; overlapping matches of
    /// one phrase count once (the earliest, longest).
    pub fn find(&self, doc: &Doc) -> Vec<Hit> {
        let mut best: HashMap<(usize, usize), usize> = HashMap::new();
        for (kind, index) in self.index.iter().enumerate() {
            let Some(index) = index else { continue };
            for m in index.ac.find_overlapping_iter(&doc.text[kind]) {
                // An anchor starts with the space before its first word.
                let word_start = (m.start() + 1) as u32;
                let Ok(i) = doc.spans[kind].binary_search_by_key(&word_start, |s| s.0) else {
                    continue;
                };
                for &(pi, before) in &index.owners[m.pattern().as_usize()] {
                    let Some(first) = i.checked_sub(before) else {
                        continue;
                    };
                    if let Some(last) = self.verify(&self.patterns[pi], doc, first) {
                        let e = best
                            .entry((self.patterns[pi].phrase, first))
                            .or_insert(last);
                        *e = (*e).max(last);
                    }
                }
            }
        }
        let mut hits: Vec<Hit> = best
            .into_iter()
            .map(|((phrase, first), last)| Hit {
                phrase,
                first,
                last,
            })
            .collect();
        hits.sort_by_key(|h| (h.first, h.phrase, std::cmp::Reverse(h.last)));
        // Variants of one phrase matching the same words at several lengths
        // («(это)? не моя проблема») are one occurrence, not several.
        let mut last_end: HashMap<usize, usize> = HashMap::new();
        hits.retain(|h| match last_end.get(&h.phrase) {
            Some(&end) if h.first <= end => false,
            _ => {
                last_end.insert(h.phrase, h.last);
                true
            }
        });
        hits
    }

    fn verify(&self, p: &Pattern, doc: &Doc, first: usize) -> Option<usize> {
        let n = p.keys.len();
        let words = doc.words.get(first..first + n)?;
        let block = words[0].block;
        for (i, (w, key)) in words.iter().zip(&p.keys).enumerate() {
            if w.block != block {
                return None;
            }
            if let Some(k) = key {
                let have = if p.exact {
                    doc.norm(first + i)
                } else {
                    doc.key(first + i)
                };
                if have != k {
                    return None;
                }
            }
        }
        // «не отправлю вам предложение» is the opposite of the stage.
        if first > 0 {
            let prev = &doc.words[first - 1];
            let phrase_negates = p
                .first_norm
                .as_deref()
                .is_some_and(|n| self.lang.is_negation(n));
            if prev.block == block && self.lang.is_negation(doc.norm(first - 1)) && !phrase_negates
            {
                return None;
            }
        }
        Some(first + n - 1)
    }
}

/// The vocabulary word within one edit of `key`, if exactly one is closest.
fn nearest(key: &str, vocab: &[String]) -> Option<String> {
    let k: Vec<char> = key.chars().collect();
    if k.len() < FUZZY_MIN_CHARS || vocab.binary_search_by(|v| v.as_str().cmp(key)).is_ok() {
        return None;
    }
    let mut found = None;
    for v in vocab {
        let vc: Vec<char> = v.chars().collect();
        if vc.len().abs_diff(k.len()) <= 1 && within_one_edit(&k, &vc) {
            if found.is_some() {
                return None; // ambiguous: leave the word as heard
            }
            found = Some(v.clone());
        }
    }
    found
}

fn within_one_edit(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        prefix == short.len() || short[prefix + 1..] == long[prefix + 1..]
    } else {
        short[prefix..] == long[prefix + 1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::phrase;
    use crate::transcript::{Segment, SourceInfo, TRANSCRIPT_SCHEMA};

    pub fn transcript(segs: &[(f64, f64, Speaker, &str)]) -> Transcript {
        Transcript {
            schema: TRANSCRIPT_SCHEMA.into(),
            source: SourceInfo {
                path: "t.wav".into(),
                sha256: String::new(),
                duration: Seconds(segs.last().map_or(0.0, |s| s.1)),
                channels: 2,
                sample_rate: 8000,
                codec: "test".into(),
            },
            recognition: None,
            regions: vec![],
            segments: segs
                .iter()
                .map(|&(s, e, speaker, text)| Segment {
                    start: Seconds(s),
                    end: Seconds(e),
                    speaker,
                    text: text.into(),
                })
                .collect(),
            warnings: vec![],
        }
    }

    fn matcher(phrases: &[&str], fuzzy: bool) -> Matcher {
        let mut specs = Vec::new();
        for (i, p) in phrases.iter().enumerate() {
            let ph = phrase::parse(p).unwrap();
            for v in ph.variants {
                specs.push(PatternSpec {
                    phrase: i,
                    words: v,
                    exact: ph.exact,
                });
            }
        }
        Matcher::new(specs, Lang::new("ru"), fuzzy)
    }

    fn found(phrases: &[&str], text: &str, fuzzy: bool) -> Vec<usize> {
        let m = matcher(phrases, fuzzy);
        let t = transcript(&[(0.0, 5.0, Speaker::Agent, text)]);
        m.find(&m.doc(&t)).iter().map(|h| h.phrase).collect()
    }

    #[test]
    fn whole_words_only() {
        assert!(found(&["типа"], "Это часть прототипа.", false).is_empty());
        assert_eq!(found(&["типа"], "Ну типа да.", false), [0]);
    }

    #[test]
    fn stems_match_inflections() {
        assert_eq!(
            found(
                &["коммерческое предложение"],
                "Вышлю коммерческие предложения сегодня",
                false
            ),
            [0]
        );
    }

    #[test]
    fn wildcard_takes_one_word() {
        assert_eq!(
            found(&["компания *"], "Компания Ромашка, здравствуйте", false),
            [0]
        );
        assert!(found(&["компания *"], "компания", false).is_empty());
    }

    #[test]
    fn negation_cancels_a_hit() {
        assert!(found(
            &["отправлю предложение"],
            "Я не отправлю предложение",
            false
        )
        .is_empty());
        assert_eq!(found(&["не знаю"], "Я не знаю", false), [0]);
    }

    #[test]
    fn phrases_do_not_cross_speakers() {
        let m = matcher(&["меня зовут"], false);
        let t = transcript(&[
            (0.0, 1.0, Speaker::Customer, "а как меня"),
            (1.0, 2.0, Speaker::Agent, "зовут Анна"),
        ]);
        assert!(m.find(&m.doc(&t)).is_empty());
    }

    #[test]
    fn fuzzy_fixes_one_letter() {
        assert!(found(&["здравствуйте"], "здраствуйте", false).is_empty());
        assert_eq!(found(&["здравствуйте"], "здраствуйте", true), [0]);
        // Word-level tolerance cannot merge «не ко» into «нико».
        assert!(found(&["это не ко мне"], "это нико мне", true).is_empty());
    }

    #[test]
    fn overlapping_variants_count_once() {
        let m = matcher(&["(это)? не моя проблема"], false);
        let t = transcript(&[(0.0, 3.0, Speaker::Agent, "Это не моя проблема.")]);
        assert_eq!(m.find(&m.doc(&t)).len(), 1);
    }

    #[test]
    fn one_edit() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(within_one_edit(&c("abcde"), &c("abxde")));
        assert!(within_one_edit(&c("abcde"), &c("abde")));
        assert!(within_one_edit(&c("abcde"), &c("abcdef")));
        assert!(!within_one_edit(&c("abcde"), &c("axcdx")));
    }
}
