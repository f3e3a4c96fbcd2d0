//! Masking phone numbers, which are personal data, in everything a report
//! writes. Masking replaces digits with `•` one for one (the last two digits
//! stay), so text keeps its length in characters and highlight positions
//! computed before masking stay valid after it.

use serde_json::Value;

const MASK: char = '•';

/// Masks known phone numbers and anything that looks like one.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Digits of numbers known from call metadata (at least 5 digits each).
    known: Vec<Vec<char>>,
}

/// Keys whose string values are never personal data (hashes, schema names,
/// report-internal paths); masking them would only break them.
const KEEP_KEYS: &[&str] = &[
    "schema",
    "sha256",
    "model_sha256",
    "page",
    "transcript",
    "settings",
    "codec",
];

impl Redactor {
    pub fn new<'a>(known_phones: impl IntoIterator<Item = &'a str>) -> Self {
        let mut known: Vec<Vec<char>> = known_phones
            .into_iter()
            .map(|p| {
                p.chars()
                    .filter(char::is_ascii_digit)
                    .collect::<Vec<char>>()
            })
            .filter(|d| d.len() >= 5)
            .collect();
        // Longest first, so a number is masked whole before a shorter one inside it.
        known.sort_by_key(|d| std::cmp::Reverse(d.len()));
        known.dedup();
        Redactor { known }
    }

    /// `s` with phone numbers masked.
    pub fn text(&self, s: &str) -> String {
        let mut chars: Vec<char> = s.chars().collect();
        for k in &self.known {
            let mut i = 0;
            while i + k.len() <= chars.len() {
                if chars[i..i + k.len()] == k[..] {
                    mask(&mut chars[i..i + k.len() - 2]);
                    i += k.len();
                } else {
                    i += 1;
                }
            }
        }
        mask_numbers(&mut chars);
        chars.into_iter().collect()
    }

    /// Masks every string in a JSON value, except under [`KEEP_KEYS`].
    pub fn value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.text(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.value(x)),
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    if !KEEP_KEYS.contains(&k.as_str()) {
                        self.value(x);
                    }
                }
            }
            _ => {}
        }
    }

    /// A phone number itself: masked whatever its length.
    pub fn phone(&self, p: &str) -> String {
        let n = p.chars().filter(char::is_ascii_digit).count();
        let mut seen = 0;
        p.chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    seen += 1;
                    if seen + 2 <= n {
                        return MASK;
                    }
                }
                c
            })
            .collect()
    }
}

fn mask(chars: &mut [char]) {
    for c in chars {
        if c.is_ascii_digit() {
            *c = MASK;
        }
    }
}

/// Masks all digits of `chars` but the last two.
fn mask_keep2(chars: &mut [char]) {
    let digits: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_ascii_digit())
        .collect();
    if digits.len() > 2 {
        for &i in &digits[..digits.len() - 2] {
            chars[i] = MASK;
        }
    }
}

fn is_sep(c: char) -> bool {
    matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{a0}')
}

fn valid_date(y: &str, m: &str, d: &str) -> bool {
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    (1970..=2100).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// Masks runs of digits that look like phone numbers:
/// - one unbroken run of 7 or more digits (`79161234567`), except an 8-digit
///   date `YYYYMMDD`;
/// - digit groups of at most 4 digits joined by spaces, dashes, dots or
///   brackets, with 10 or more digits in all
///   (`+7 (916) 123-45-67`, `8-916-123-45-67`);
/// - 3 or more dash-joined groups of at most 4 digits with 7 to 9 digits in
///   all (`123-45-67`), except a date `YYYY-MM-DD` / `DD-MM-YYYY`.
///
/// Dates and times as recorders write them (`20241105-103000`) stay readable.
fn mask_numbers(chars: &mut [char]) {
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // Groups: (start, end) of digit runs, joined by 1-2 separator characters.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let mut seps: Vec<char> = Vec::new();
        let mut gaps: Vec<String> = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            groups.push((start, j));
            let mut k = j;
            while k < chars.len() && k - j < 2 && is_sep(chars[k]) {
                k += 1;
            }
            if k > j && k < chars.len() && chars[k].is_ascii_digit() {
                seps.extend(&chars[j..k]);
                gaps.push(chars[j..k].iter().collect());
                j = k;
            } else {
                break;
            }
        }
        let text = |g: (usize, usize)| chars[g.0..g.1].iter().collect::<String>();
        // A date written with separators is not part of a number: skip it.
        if groups.len() >= 3 && gaps[0] == gaps[1] && matches!(gaps[0].as_str(), "-" | "." | "/") {
            let (a, b, c) = (text(groups[0]), text(groups[1]), text(groups[2]));
            let ymd = a.len() == 4 && b.len() == 2 && c.len() == 2 && valid_date(&a, &b, &c);
            let dmy = a.len() == 2 && b.len() == 2 && c.len() == 4 && valid_date(&c, &b, &a);
            if ymd || dmy {
                i = groups[2].1;
                continue;
            }
        }
        let end = groups.last().map_or(j, |g| g.1);
        let lens: Vec<usize> = groups.iter().map(|g| g.1 - g.0).collect();
        let total: usize = lens.iter().sum();
        let grouped_phone = lens.len() > 1 && total >= 10 && lens.iter().all(|&l| l <= 4);
        let local_number = lens.len() >= 3
            && (7..=9).contains(&total)
            && seps.iter().all(|&c| c == '-')
            && lens.iter().all(|&l| l <= 4);
        if grouped_phone || local_number {
            mask_keep2(&mut chars[i..end]);
        } else {
            for &g in &groups {
                let l = g.1 - g.0;
                let t: String = chars[g.0..g.1].iter().collect();
                let date = l == 8 && valid_date(&t[0..4], &t[4..6], &t[6..8]);
                if l >= 7 && !date {
                    mask_keep2(&mut chars[g.0..g.1]);
                }
            }
        }
        i = end.max(i + 1);
    }
}

/// Masks phone-number-like digit runs in `s` (no known numbers).
pub fn redact(s: &str) -> String {
    Redactor::default().text(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_phone_numbers_keeps_dates_and_times() {
        assert_eq!(redact("out-79161234567-101.wav"), "out-•••••••••67-101.wav");
        assert_eq!(
            redact("in-79161234567-101-20241105-103000.wav"),
            "in-•••••••••67-101-20241105-103000.wav"
        );
        assert_eq!(
            redact("звоните +7 (916) 123-45-67!"),
            "звоните +• (•••) •••-••-67!"
        );
        assert_eq!(redact("8-916-123-45-67"), "•-•••-•••-••-67");
        assert_eq!(redact("номер 123-45-67"), "номер •••-••-67");
        for keep in [
            "2024-11-05 10:30, 05.11.2024 12:00, 12 500 руб., 0:06.9",
            "2024-11-05-10-30-00",
            "20241105-103000",
            "101",
        ] {
            assert_eq!(redact(keep), keep);
        }
        assert_eq!(redact("id 1704100000.123"), "id ••••••••00.123");
    }

    #[test]
    fn known_numbers_and_lengths() {
        let r = Redactor::new(["+7 916 123", "101"]);
        assert_eq!(r.text("x-7916123-y 101"), "x-•••••23-y 101");
        let s = "+7 (916) 123-45-67 и 79161234567";
        assert_eq!(r.text(s).chars().count(), s.chars().count());
        assert_eq!(r.phone("101"), "•01");
        assert_eq!(r.phone("+79161234567"), "+•••••••••67");
    }

    #[test]
    fn json_values_keep_hashes() {
        let mut v = serde_json::json!({"call": "in-79161234567.wav", "sha256": "1234567890123", "n": 79161234567u64, "a": ["79161234567"]});
        Redactor::default().value(&mut v);
        assert_eq!(v["call"], "in-•••••••••67.wav");
        assert_eq!(v["sha256"], "1234567890123");
        assert_eq!(v["n"], 79161234567u64);
        assert_eq!(v["a"][0], "•••••••••67");
    }
}
