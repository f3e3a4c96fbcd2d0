//! Finding card phrases in a transcript: each word of the call becomes a
//! symbol of the card's phrase vocabulary (every word no phrase mentions is
//! one "other" symbol), one Aho-Corasick pass runs over those symbols, then a
//! cheap check of each candidate for wildcards, speaker turns and negation.

use crate::card::phrase::PatWord;
use crate::text::{self, Lang};
use crate::transcript::Transcript;
use crate::types::{Seconds, Speaker};
use aho_corasick::{AhoCorasick, AhoCorasickKind};
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// An expanded phrase variant to look for, owned by phrase `phrase` of the card.
#[derive(Debug, Clone)]
pub struct PatternSpec {
    pub phrase: usize,
    pub words: Vec<PatWord>,
    pub exact: bool,
}

/// A word as the automaton sees it: its place in one kind's vocabulary.
type Sym = u32;
/// Every word that no phrase of the card contains.
const OTHER: Sym = 0;

#[derive(Debug)]
struct Pattern {
    phrase: usize,
    /// [`KEYS`] (stems) or [`NORMS`] (exact words).
    kind: usize,
    /// Symbols in order; `None` = `*`.
    syms: Vec<Option<Sym>>,
    /// The phrase itself starts with a negation («не знаю»).
    negated: bool,
}

/// Patterns sharing an anchor: (pattern, words before the anchor in it).
type Owners = Vec<(usize, usize)>;

/// The words of one kind that phrases contain, and the automaton over their
/// symbols; each automaton pattern is a literal anchor shared by the phrase
/// variants listed for it.
#[derive(Debug)]
struct Index {
    vocab: FxHashMap<Box<str>, Sym>,
    /// Bytes per symbol in the haystack (see [`encode`]).
    width: usize,
    ac: AhoCorasick,
    /// anchor → its owners
    owners: Vec<Owners>,
}

impl Index {
    fn sym(&self, word: &str) -> Sym {
        self.vocab.get(word).copied().unwrap_or(OTHER)
    }
}

#[derive(Debug)]
pub struct Matcher {
    /// Tells this matcher's entries in the thread's [`WordCache`] apart.
    id: u64,
    patterns: Vec<Pattern>,
    index: [Option<Index>; 2],
    lang: Lang,
    /// Stemmed pattern words that a one-letter recognition error may reach.
    fuzzy_vocab: Option<Vec<String>>,
}

/// A word of the call, as the matcher sees it.
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
    info: WordInfo,
}

/// What matching needs to know of a normalised word.
#[derive(Debug, Clone, Copy)]
struct WordInfo {
    /// Its symbol per key kind ([`OTHER`] for a kind no phrase uses).
    syms: [Sym; 2],
    /// A negation («не», "not") that cancels a phrase right after it.
    negation: bool,
}

/// Words already looked up on this thread, for one matcher at a time, keyed
/// by the word as written: a word of a call costs one hash lookup, with no
/// folding, stemming or vocabulary lookups (case variants are separate
/// entries). A call centre's vocabulary is small, so after a few calls
/// nearly every word is a hit; [`WORD_CACHE_MAX`] bounds memory on
/// pathological input.
#[derive(Default)]
struct WordCache {
    matcher: u64,
    words: FxHashMap<Box<str>, WordInfo>,
}

const WORD_CACHE_MAX: usize = 200_000;

thread_local! {
    static WORDS: RefCell<WordCache> = RefCell::new(WordCache::default());
}

static NEXT_MATCHER: AtomicU64 = AtomicU64::new(1);

/// A call tokenised for matching: its words, and per key kind the haystack
/// their symbols are encoded into (empty for a kind no phrase uses).
#[derive(Debug)]
pub struct Doc {
    pub words: Vec<DocWord>,
    haystack: [Vec<u8>; 2],
}

/// Stems: what non-exact phrases are compared on.
const KEYS: usize = 0;
/// Normalised words: what `=exact` phrases are compared on.
const NORMS: usize = 1;

impl Doc {
    /// Words per segment of the transcript (`segments` of them).
    pub fn words_per_segment(&self, segments: usize) -> Vec<usize> {
        let mut n = vec![0; segments];
        for w in &self.words {
            n[w.segment] += 1;
        }
        n
    }
}

/// A phrase found at words `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub phrase: usize,
    pub first: usize,
    pub last: usize,
}

const FUZZY_MIN_CHARS: usize = 5;

/// Appends `sym` in `width` bytes, base 128, the first byte marked with the
/// high bit: every symbol then starts at a multiple of `width` and no match
/// can start inside one, so a match's offset ÷ `width` is its word.
fn encode(sym: Sym, width: usize, out: &mut Vec<u8>) {
    for i in (0..width).rev() {
        let digit = ((sym >> (7 * i)) & 0x7f) as u8;
        out.push(if i == width - 1 { 0x80 | digit } else { digit });
    }
}

/// Bytes per symbol for a vocabulary of `n` words plus [`OTHER`].
fn width_for(n: usize) -> usize {
    let mut width = 1;
    while (n + 1) >> (7 * width) > 0 {
        width += 1;
    }
    width
}

impl Matcher {
    pub fn new(specs: Vec<PatternSpec>, lang: Lang, fuzzy: bool) -> Matcher {
        let mut vocab: [FxHashMap<Box<str>, Sym>; 2] = Default::default();
        let mut patterns = Vec::with_capacity(specs.len());
        for spec in &specs {
            let kind = if spec.exact { NORMS } else { KEYS };
            let keys: Vec<Option<Box<str>>> = spec
                .words
                .iter()
                .map(|w| match w {
                    PatWord::Word(n) if spec.exact => Some(n.as_str().into()),
                    PatWord::Word(n) => Some(lang.stem(n).into()),
                    PatWord::Any => None,
                })
                .collect();
            let syms = keys
                .iter()
                .map(|k| {
                    k.as_ref().map(|k| {
                        let next = vocab[kind].len() as Sym + 1;
                        *vocab[kind].entry(k.clone()).or_insert(next)
                    })
                })
                .collect();
            let negated =
                matches!(spec.words.first(), Some(PatWord::Word(n)) if lang.is_negation(n));
            patterns.push(Pattern {
                phrase: spec.phrase,
                kind,
                syms,
                negated,
            });
        }
        let mut anchors: [HashMap<Vec<Sym>, Owners>; 2] = Default::default();
        for (pi, p) in patterns.iter().enumerate() {
            let start = p.syms.iter().position(Option::is_some).unwrap_or(0);
            let run: Vec<Sym> = p.syms[start..].iter().map_while(|s| *s).collect();
            if run.is_empty() {
                continue; // wildcards only: `card check` refuses such a phrase
            }
            anchors[p.kind].entry(run).or_default().push((pi, start));
        }
        let index = std::array::from_fn(|kind| {
            let m = std::mem::take(&mut anchors[kind]);
            if m.is_empty() {
                return None;
            }
            let width = width_for(vocab[kind].len());
            let (runs, owners): (Vec<Vec<Sym>>, Vec<_>) = m.into_iter().unzip();
            let bytes: Vec<Vec<u8>> = runs
                .iter()
                .map(|run| {
                    let mut b = Vec::with_capacity(run.len() * width);
                    run.iter().for_each(|&s| encode(s, width, &mut b));
                    b
                })
                .collect();
            // A DFA: built once per card, and the fastest at overlapping
            // search; a card too large for one falls back to the default.
            let ac = AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::DFA))
                .build(&bytes)
                .or_else(|_| AhoCorasick::new(&bytes))
                .expect("a few thousand anchors fit any automaton");
            Some(Index {
                vocab: std::mem::take(&mut vocab[kind]),
                width,
                ac,
                owners,
            })
        });
        // The stemmed pattern words long enough for a one-letter slip.
        let fuzzy_vocab = fuzzy.then(|| {
            let mut v: Vec<String> = index[KEYS]
                .iter()
                .flat_map(|i: &Index| i.vocab.keys())
                .filter(|k| k.chars().count() >= FUZZY_MIN_CHARS)
                .map(|k| k.to_string())
                .collect();
            v.sort();
            v
        });
        Matcher {
            id: NEXT_MATCHER.fetch_add(1, Ordering::Relaxed),
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
    /// After the first calls every word comes from the cache, so a word
    /// costs one hash lookup and no allocation.
    pub fn doc(&self, t: &Transcript) -> Doc {
        // A word takes at least two bytes with its separator, nearly always
        // more: room for all of them at once instead of growing nine times.
        let bytes: usize = t.segments.iter().map(|s| s.text.len()).sum();
        let mut words: Vec<DocWord> = Vec::with_capacity(bytes / 4);
        let mut norm_buf = String::new();
        let mut block = 0usize;
        WORDS.with(|cache| {
            let cache = &mut *cache.borrow_mut();
            if cache.matcher != self.id {
                cache.words.clear();
                cache.matcher = self.id;
            }
            for (si, seg) in t.segments.iter().enumerate() {
                if si > 0 && t.segments[si - 1].speaker != seg.speaker {
                    block += 1;
                }
                // Word times are interpolated by character position.
                let chars = seg.text.chars().count().max(1) as f64;
                let span = (seg.end.0 - seg.start.0).max(0.0);
                let at =
                    |char_index: usize| Seconds(seg.start.0 + span * char_index as f64 / chars);
                text::for_each_word_at(&seg.text, |w| {
                    let written = &seg.text[w.start..w.end];
                    let info = match cache.words.get(written) {
                        Some(info) => *info,
                        None => {
                            if cache.words.len() >= WORD_CACHE_MAX {
                                cache.words.clear();
                            }
                            text::fold_word(written, &mut norm_buf);
                            let info = self.word_info(&norm_buf);
                            cache.words.insert(written.into(), info);
                            info
                        }
                    };
                    words.push(DocWord {
                        start: at(w.start_char),
                        end: at(w.end_char),
                        segment: si,
                        speaker: seg.speaker,
                        block,
                        bytes: (w.start, w.end),
                        info,
                    });
                });
            }
        });
        let haystack = std::array::from_fn(|kind| {
            let Some(index) = &self.index[kind] else {
                return Vec::new();
            };
            let mut h = Vec::with_capacity(words.len() * index.width);
            for w in &words {
                encode(w.info.syms[kind], index.width, &mut h);
            }
            h
        });
        Doc { words, haystack }
    }

    /// Looks a new word up: its stem's symbol (or, with `fuzzy`, that of the
    /// one pattern word within one edit of it) and its exact symbol.
    fn word_info(&self, norm: &str) -> WordInfo {
        let mut syms = [OTHER; 2];
        if let Some(index) = &self.index[KEYS] {
            let stem = self.lang.stem(norm);
            syms[KEYS] = index.sym(&stem);
            if let (OTHER, Some(vocab)) = (syms[KEYS], &self.fuzzy_vocab) {
                syms[KEYS] = nearest(&stem, vocab).map_or(OTHER, |near| index.sym(&near));
            }
        }
        if let Some(index) = &self.index[NORMS] {
            syms[NORMS] = index.sym(norm);
        }
        WordInfo {
            syms,
            negation: self.lang.is_negation(norm),
        }
    }

    /// Every place a phrase occurs, sorted by position; overlapping matches of
    /// one phrase count once (the earliest, longest).
    pub fn find(&self, doc: &Doc) -> Vec<Hit> {
        let mut best: FxHashMap<(usize, usize), usize> = FxHashMap::default();
        for (kind, index) in self.index.iter().enumerate() {
            let Some(index) = index else { continue };
            for m in index.ac.find_overlapping_iter(&doc.haystack[kind]) {
                let i = m.start() / index.width;
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
        let mut last_end: FxHashMap<usize, usize> = FxHashMap::default();
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
        let n = p.syms.len();
        let words = doc.words.get(first..first + n)?;
        let block = words[0].block;
        for (w, want) in words.iter().zip(&p.syms) {
            if w.block != block || want.is_some_and(|s| s != w.info.syms[p.kind]) {
                return None;
            }
        }
        // «не отправлю вам предложение» is the opposite of the stage.
        if first > 0 {
            let prev = &doc.words[first - 1];
            if prev.block == block && prev.info.negation && !p.negated {
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
    fn symbols_of_several_bytes_stay_aligned() {
        assert_eq!(width_for(126), 1);
        assert_eq!(width_for(127), 2);
        assert_eq!(width_for(16_382), 2);
        assert_eq!(width_for(16_383), 3);
        let mut b = Vec::new();
        encode(300, 2, &mut b);
        assert_eq!(b, [0x80 | 2, 44]); // 300 = 2 × 128 + 44
                                       // 400 phrase words: two bytes per word, and a phrase is found at
                                       // exactly its words, never from the middle of a symbol.
        let words: Vec<String> = (0..400).map(|i| format!("w{i}x")).collect();
        let mut phrases: Vec<&str> = words.iter().map(String::as_str).collect();
        phrases.push("w5x w300x");
        let m = matcher(&phrases, false);
        let t = transcript(&[(0.0, 5.0, Speaker::Agent, "zz w5x w300x zz w399x")]);
        let hits = m.find(&m.doc(&t));
        let got: Vec<(usize, usize, usize)> =
            hits.iter().map(|h| (h.phrase, h.first, h.last)).collect();
        assert_eq!(got, [(5, 1, 1), (400, 1, 2), (300, 2, 2), (399, 4, 4)]);
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
