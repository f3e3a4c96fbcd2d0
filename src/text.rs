//! Text normalisation shared by cards and transcripts: Unicode lower case,
//! «ё» → «е», punctuation dropped, whole words, optional stemming.
//!
//! Both sides of a match go through the same functions, so a phrase in a card
//! and the words in a call can only differ where the speaker really differed.

use rust_stemmers::{Algorithm, Stemmer};
use std::cell::RefCell;
use std::collections::HashMap;

/// Stems already computed on this thread, per language. A call centre's
/// vocabulary is small, so after a few calls nearly every word is a lookup;
/// the cap bounds memory on pathological input.
const STEM_CACHE_MAX: usize = 200_000;

thread_local! {
    static STEMS: RefCell<HashMap<String, HashMap<String, String>>> = RefCell::new(HashMap::new());
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

fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if is_apostrophe(c) {
            out.push('\'');
            continue;
        }
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
    out
}

/// Splits text into normalised words. Hyphens split words («в общем-то» is
/// «в общем то») and an apostrophe inside a word keeps it whole («don't»).
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let inner_apostrophe = is_apostrophe(c)
            && start.is_some()
            && chars.peek().is_some_and(|&(_, n)| is_word_char(n));
        if is_word_char(c) || inner_apostrophe {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            out.push(Word {
                norm: fold(&text[s..i]),
                start: s,
                end: i,
            });
        }
    }
    if let Some(s) = start {
        out.push(Word {
            norm: fold(&text[s..]),
            start: s,
            end: text.len(),
        });
    }
    out
}

/// Normalised text as one string of words separated by single spaces.
pub fn normalise(text: &str) -> String {
    words(text)
        .into_iter()
        .map(|w| w.norm)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A per-language word reducer: a Snowball stemmer where one exists for the
/// language, otherwise identity (exact matching).
pub struct Lang {
    stemmer: Option<Stemmer>,
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
        let (algorithm, negations): (Option<Algorithm>, &'static [&'static str]) = match code {
            "ru" => (Some(Algorithm::Russian), &["не", "ни"]),
            "en" => (
                Some(Algorithm::English),
                &[
                    "not", "don't", "doesn't", "didn't", "won't", "never", "can't", "cannot",
                ],
            ),
            "de" => (Some(Algorithm::German), &["nicht", "kein"]),
            "fr" => (Some(Algorithm::French), &["pas", "ne"]),
            "es" => (Some(Algorithm::Spanish), &["no"]),
            "it" => (Some(Algorithm::Italian), &["non"]),
            "pt" => (Some(Algorithm::Portuguese), &["não"]),
            _ => (None, &[]),
        };
        Lang {
            stemmer: algorithm.map(Stemmer::create),
            negations,
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
        let Some(stemmer) = &self.stemmer else {
            return norm.to_string();
        };
        STEMS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(s) = cache.get(&self.code).and_then(|m| m.get(norm)) {
                return s.clone();
            }
            let lang = cache.entry(self.code.clone()).or_default();
            if lang.len() >= STEM_CACHE_MAX {
                lang.clear();
            }
            let s = stemmer.stem(norm).into_owned();
            lang.insert(norm.to_string(), s.clone());
            s
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
