//! Text normalisation shared by cards and transcripts: Unicode lower case,
//! «ё» → «е», punctuation dropped, whole words, optional stemming.
//!
//! Both sides of a match go through the same functions, so a phrase in a card
//! and the words in a call can only differ where the speaker really differed.

use rust_stemmers::{Algorithm, Stemmer};

/// Languages with a stemmer, and the words that negate a phrase after them.
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
#[inline]
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

/// Appends `c` lower-cased, with «ё» folded to «е».
#[inline]
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
    for_each_word_at(text, |w| {
        let mut norm = String::new();
        fold_word(&text[w.start..w.end], &mut norm);
        out.push(Word {
            norm,
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

/// Where every word of `text` stands, in order: the one definition of a
/// word, shared by phrase matching, [`words`] and word counts.
pub fn for_each_word_at(text: &str, mut f: impl FnMut(WordAt)) {
    // Two tight loops, over the gap before a word and over the word: this is
    // most of the time spent scoring a call.
    let (mut i, mut ci) = (0, 0);
    loop {
        while i < text.len() {
            let (is_word, len) = class_at(text, i);
            if is_word {
                break;
            }
            i += len;
            ci += 1;
        }
        if i == text.len() {
            return;
        }
        let (start, start_char) = (i, ci);
        while i < text.len() {
            let (is_word, len) = class_at(text, i);
            let inside = is_word
                || (is_apostrophe(char_at(text, i).0)
                    && i + len < text.len()
                    && class_at(text, i + len).0);
            if !inside {
                break; // «don't»: an apostrophe between letters stays inside
            }
            i += len;
            ci += 1;
        }
        f(WordAt {
            start,
            end: i,
            start_char,
            end_char: ci,
        });
    }
}

/// Whether the character at byte `i` is a word character, and its length,
/// from its first byte where that is enough.
#[inline]
fn class_at(text: &str, i: usize) -> (bool, usize) {
    match text.as_bytes()[i] {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (true, 1),
        // U+0400..U+047F, all Cyrillic letters.
        0xD0 | 0xD1 => (true, 2),
        0..=0x7F => (false, 1),
        _ => {
            let (c, len) = char_at(text, i);
            (is_word_char(c), len)
        }
    }
}

/// Number of words in `text`, as phrase matching splits them.
pub fn count_words(text: &str) -> usize {
    let mut n = 0;
    for_each_word_at(text, |_| n += 1);
    n
}

/// `word` (one word as [`for_each_word_at`] finds it) lower-cased with «ё»
/// folded and apostrophes unified, into `out`. Runs of characters that are
/// already normal are copied as one slice.
pub fn fold_word(word: &str, out: &mut String) {
    out.clear();
    let bytes = word.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let next = bytes.get(i + 1).copied().unwrap_or(0);
        let kept = match b {
            b'a'..=b'z' | b'0'..=b'9' => Some(1),
            // «а»..«п» and «р»..«я»: already lower case, and not «ё».
            0xD0 if (0xB0..=0xBF).contains(&next) => Some(2),
            0xD1 if (0x80..=0x8F).contains(&next) => Some(2),
            _ => None,
        };
        if let Some(len) = kept {
            i += len;
            continue;
        }
        let (c, len) = char_at(word, i);
        out.push_str(&word[run..i]);
        if is_apostrophe(c) {
            out.push('\'');
        } else {
            fold_char(c, out);
        }
        i += len;
        run = i;
    }
    out.push_str(&word[run..]);
}

/// The character starting at byte `i` (a character boundary) and its length
/// in bytes. One- and two-byte characters (ASCII, Cyrillic) are decoded
/// directly, without the standard library's general UTF-8 path.
#[inline]
fn char_at(text: &str, i: usize) -> (char, usize) {
    let bytes = text.as_bytes();
    let b = bytes[i];
    if b < 0x80 {
        return (b as char, 1);
    }
    if b < 0xE0 {
        // A lead byte of a two-byte sequence; its continuation follows.
        let code = (u32::from(b & 0x1F) << 6) | u32::from(bytes[i + 1] & 0x3F);
        return (
            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
            2,
        );
    }
    let c = text[i..]
        .chars()
        .next()
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    (c, c.len_utf8())
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
        let found = STEMMED.iter().position(|(c, ..)| *c == code);
        Lang {
            stemmer: found.map(|i| Stemmer::create(STEMMED[i].1)),
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

    /// The form used for morphology-tolerant matching. Not cached here:
    /// matching looks each word up once per card and thread
    /// (`matcher::WordCache`).
    pub fn stem(&self, norm: &str) -> String {
        match &self.stemmer {
            Some(stemmer) => stemmer.stem(norm).into_owned(),
            None => norm.to_string(),
        }
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
            // The splitter's byte-level classes agree with Unicode too.
            assert_eq!(
                count_words(&c.to_string()),
                c.is_alphanumeric() as usize,
                "{c:?}"
            );
            if c != '\'' && c != '’' && c != 'ʼ' {
                let mut folded = String::new();
                fold_word(&c.to_string(), &mut folded);
                assert_eq!(folded, slow, "{c:?}");
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
        let text = "Ну, Ёлки-палки don't";
        let mut got = Vec::new();
        for_each_word_at(text, |w| {
            let mut norm = String::new();
            fold_word(&text[w.start..w.end], &mut norm);
            got.push((norm, w.start_char, w.end_char))
        });
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

    #[test]
    fn counts_words_in_any_script() {
        assert_eq!(count_words("Здравствуйте, меня зовут Анна!"), 4);
        assert_eq!(count_words("Hello, my name is Anna."), 5);
        assert_eq!(count_words("don't stop"), 2);
        assert_eq!(count_words("как-то так"), 3);
        assert_eq!(count_words("— … 15 минут"), 2);
        assert_eq!(count_words("Hello,world"), 2);
        assert_eq!(count_words("  ... ?! "), 0);
        assert_eq!(count_words(""), 0);
        assert_eq!(count_words("ёлка Ёж café"), 3);
    }
}
