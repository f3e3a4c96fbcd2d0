//! Text normalisation shared by cards and transcripts: Unicode lower case,
//! «ё» → «е», punctuation dropped, whole words, optional stemming.
//!
//! Both sides of a match go through the same functions, so a phrase in a card
//! and the words in a call can only differ where the speaker really differed.

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashMap;
use std::cell::RefCell;

/// Stems already computed on this thread, per language. A call centre's
/// vocabulary is small, so after a few calls nearly every word is a lookup;
/// the cap bounds memory on pathological input.
const STEM_CACHE_MAX: usize = 200_000;

/// Languages with a stemmer, each with its own slot in the stem cache.
const STEMMED: [(&str, Algorithm, &[&str]); 7] = [
    ("ru", Algorithm::Russian, &["не", "ни"]),
    (
        "en",
        Algorithm::English,
        &[
            "not", "don't", "doesn't", "didn't", "won't", "never", "can't", "cannot",
        ],
    ),
    ("de", Algorithm::German, &["nicht", "kein"]),
    ("fr", Algorithm::French, &["pas", "ne"]),
    ("es", Algorithm::Spanish, &["no"]),
    ("it", Algorithm::Italian, &["non"]),
    ("pt", Algorithm::Portuguese, &["não"]),
];

/// Normalised word → its stem.
type StemCache = FxHashMap<Box<str>, Box<str>>;

thread_local! {
    static STEMS: RefCell<[StemCache; STEMMED.len()]> =
        RefCell::new(Default::default());
}

/// One word of normalised text, with where it stood in the original string.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Lower case, «ё» folded.
    pub norm: String,
    /// Byte range in the original text, for quoting evidence.
    pub start: usize,
    pub end: usize,
}

/// Letters and digits of any script. ASCII and the basic Cyrillic block are
/// answered directly: `char::is_alphanumeric` takes a table lookup for every
/// non-ASCII character, which dominated scoring time on Russian calls.
pub fn is_word_char(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' | 'А'..='я' | 'Ё' | 'ё' => true,
        c if c.is_ascii() => false,
        c => c.is_alphanumeric(),
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ')
}

#[cfg(test)]
fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if is_apostrophe(c) {
            out.push('\'');
        } else {
            fold_char(c, &mut out);
        }
    }
    out
}

/// Appends `c` lower-cased, with «ё» folded to «е».
fn fold_char(c: char, out: &mut String) {
    match c {
        'A'..='Z' => out.push(c.to_ascii_lowercase()),
        // А..Я and а..я are contiguous, 32 code points apart.
        'А'..='Я' => out.push(char::from_u32(c as u32 + 32).unwrap_or(c)),
        'Ё' | 'ё' => out.push('е'),
        c if c.is_ascii() || ('а'..='я').contains(&c) => out.push(c),
        c => {
            for l in c.to_lowercase() {
                out.push(if l == 'ё' { 'е' } else { l });
            }
        }
    }
}

/// Splits text into normalised words. Hyphens split words («в общем-то» is
/// «в общем то») and an apostrophe inside a word keeps it whole («don't»).
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut norm = String::new();
    for_each_word(text, &mut norm, |w, norm| {
        out.push(Word {
            norm: norm.to_string(),
            start: w.start,
            end: w.end,
        })
    });
    out
}

/// Where a word stands in its text, in bytes and in characters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordAt {
    pub start: usize,
    pub end: usize,
    pub start_char: usize,
    pub end_char: usize,
}

/// [`words`] in one pass without an allocation per word: `f` gets each
/// word's position and its normalised form, folded into the reused `norm`.
pub fn for_each_word(text: &str, norm: &mut String, mut f: impl FnMut(WordAt, &str)) {
    let mut start: Option<(usize, usize)> = None;
    let mut chars = text.char_indices().enumerate().peekable();
    let mut end_char = 0;
    while let Some((ci, (i, c))) = chars.next() {
        end_char = ci;
        if is_word_char(c) {
            if start.is_none() {
                start = Some((i, ci));
                norm.clear();
            }
            fold_char(c, norm);
        } else if is_apostrophe(c)
            && start.is_some()
            && chars.peek().is_some_and(|&(_, (_, n))| is_word_char(n))
        {
            norm.push('\'');
        } else if let Some((s, sc)) = start.take() {
            let at = WordAt {
                start: s,
                end: i,
                start_char: sc,
                end_char: ci,
            };
            f(at, norm);
        }
    }
    if let Some((s, sc)) = start {
        let at = WordAt {
            start: s,
            end: text.len(),
            start_char: sc,
            end_char: end_char + 1,
        };
        f(at, norm);
    }
}

/// Normalised text as one string of words separated by single spaces.
pub fn normalise(text: &str) -> String {
    words(text)
        .into_iter()
        .map(|w| w.norm)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A language's stemmer with this thread's cache of its stems, borrowed.
pub struct Stems<'a> {
    stemmer: Option<(&'a Stemmer, &'a mut StemCache)>,
}

impl Stems<'_> {
    /// Appends the stem of `norm` to `out`; no allocation once the word is
    /// in the cache.
    pub fn stem_into(&mut self, norm: &str, out: &mut String) {
        let Some((stemmer, cache)) = &mut self.stemmer else {
            out.push_str(norm);
            return;
        };
        if let Some(s) = cache.get(norm) {
            out.push_str(s);
            return;
        }
        if cache.len() >= STEM_CACHE_MAX {
            cache.clear();
        }
        let s = stemmer.stem(norm);
        out.push_str(&s);
        cache.insert(norm.into(), s.into());
    }
}

/// A per-language word reducer: a Snowball stemmer where one exists for the
/// language, otherwise identity (exact matching).
pub struct Lang {
    /// The stemmer and this language's slot in the stem cache.
    stemmer: Option<(Stemmer, usize)>,
    negations: &'static [&'static str],
    code: String,
}

impl std::fmt::Debug for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lang")
            .field("code", &self.code)
            .field("stemming", &self.stemmer.is_some())
            .finish()
    }
}

impl Lang {
    pub fn new(code: &str) -> Lang {
        let found = STEMMED.iter().position(|(c, ..)| *c == code);
        Lang {
            stemmer: found.map(|i| (Stemmer::create(STEMMED[i].1), i)),
            negations: found.map_or(&[], |i| STEMMED[i].2),
            code: code.to_string(),
        }
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn has_stemmer(&self) -> bool {
        self.stemmer.is_some()
    }

    /// The form used for morphology-tolerant matching.
    pub fn stem(&self, norm: &str) -> String {
        let mut out = String::new();
        self.with_stems(|stems| stems.stem_into(norm, &mut out));
        out
    }

    /// Runs `f` with this thread's stem cache for the language borrowed
    /// once, for stemming many words in a row.
    pub fn with_stems<R>(&self, f: impl FnOnce(&mut Stems<'_>) -> R) -> R {
        let Some((stemmer, slot)) = &self.stemmer else {
            return f(&mut Stems { stemmer: None });
        };
        STEMS.with(|cache| {
            let cache = &mut cache.borrow_mut()[*slot];
            f(&mut Stems {
                stemmer: Some((stemmer, cache)),
            })
        })
    }

    pub fn is_negation(&self, norm: &str) -> bool {
        self.negations.contains(&norm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_cyrillic_case_and_yo() {
        assert_eq!(normalise("Всё ХОРОШО, Ёлки!"), "все хорошо елки");
    }

    #[test]
    fn fast_paths_agree_with_unicode() {
        for c in ('\u{0}'..='\u{52f}').chain(['ẞ', 'Ω', '٣', '中']) {
            assert_eq!(is_word_char(c), c.is_alphanumeric(), "{c:?}");
            let slow: String = c
                .to_lowercase()
                .map(|l| if l == 'ё' { 'е' } else { l })
                .collect();
            if c != '\'' && c != '’' && c != 'ʼ' {
                assert_eq!(fold(&c.to_string()), slow, "{c:?}");
            }
        }
    }

    #[test]
    fn splits_hyphens_keeps_apostrophes() {
        assert_eq!(normalise("в общем-то"), "в общем то");
        assert_eq!(normalise("I don't know."), "i don't know");
        assert_eq!(normalise("'quoted'"), "quoted");
    }

    #[test]
    fn reports_character_positions() {
        let mut got = Vec::new();
        for_each_word(
            "Ну, Ёлки-палки don't",
            &mut String::new(),
            |w, norm| got.push((norm.to_string(), w.start_char, w.end_char)),
        );
        assert_eq!(
            got,
            [
                ("ну".to_string(), 0, 2),
                ("елки".to_string(), 4, 8),
                ("палки".to_string(), 9, 14),
                ("don't".to_string(), 15, 20),
            ]
        );
    }

    #[test]
    fn keeps_byte_ranges_for_quotes() {
        let text = "Ну, здравствуйте!";
        let w = words(text);
        assert_eq!(&text[w[1].start..w[1].end], "здравствуйте");
    }

    #[test]
    fn russian_stems_inflections_together() {
        let ru = Lang::new("ru");
        assert_eq!(ru.stem("предложение"), ru.stem("предложения"));
        assert_eq!(ru.stem("коммерческое"), ru.stem("коммерческие"));
        assert_eq!(Lang::new("xx").stem("слово"), "слово");
    }
}
