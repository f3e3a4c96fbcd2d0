//! The phrase syntax QA staff write: words, `(a|b)` alternatives, `(…)?`
//! optional groups, `*` for any one word, a leading `=` for exact matching.
//! A phrase expands into the plain word sequences it stands for.

use crate::text;

/// One position of an expanded phrase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatWord {
    /// A normalised word (not yet stemmed).
    Word(String),
    /// `*`: exactly one word, whatever it is.
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Phrase {
    pub exact: bool,
    pub variants: Vec<Vec<PatWord>>,
}

/// Expansions beyond this are almost certainly a mistake in the card.
pub const MAX_VARIANTS: usize = 512;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Star,
    Open,
    Close,
    Bar,
    Quest,
}

fn lex(src: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Tok>| {
        if !word.is_empty() {
            out.push(Tok::Word(std::mem::take(word)));
        }
    };
    for c in src.chars() {
        let special = match c {
            '(' => Some(Tok::Open),
            ')' => Some(Tok::Close),
            '|' => Some(Tok::Bar),
            '?' => Some(Tok::Quest),
            '*' => Some(Tok::Star),
            _ => None,
        };
        if let Some(t) = special {
            flush(&mut word, &mut out);
            out.push(t);
        } else if c.is_whitespace() {
            flush(&mut word, &mut out);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

struct P {
    toks: Vec<Tok>,
    at: usize,
}

impl P {
    /// seq := item* ; stops at `|`, `)` or the end.
    fn seq(&mut self) -> Result<Vec<Vec<PatWord>>, String> {
        let mut acc: Vec<Vec<PatWord>> = vec![Vec::new()];
        while let Some(t) = self.toks.get(self.at).cloned() {
            let item: Vec<Vec<PatWord>> = match t {
                Tok::Bar | Tok::Close => break,
                Tok::Quest => return Err("`?` must follow a closing `)`".into()),
                Tok::Star => {
                    self.at += 1;
                    vec![vec![PatWord::Any]]
                }
                Tok::Word(w) => {
                    self.at += 1;
                    // A word may normalise into several («общем-то») or none («—»).
                    vec![text::words(&w)
                        .into_iter()
                        .map(|x| PatWord::Word(x.norm))
                        .collect()]
                }
                Tok::Open => {
                    self.at += 1;
                    let mut alts = self.seq()?;
                    while self.toks.get(self.at) == Some(&Tok::Bar) {
                        self.at += 1;
                        alts.extend(self.seq()?);
                    }
                    if self.toks.get(self.at) != Some(&Tok::Close) {
                        return Err("unclosed `(`".into());
                    }
                    self.at += 1;
                    if self.toks.get(self.at) == Some(&Tok::Quest) {
                        self.at += 1;
                        alts.push(Vec::new());
                    }
                    alts
                }
            };
            let mut next = Vec::with_capacity(acc.len() * item.len());
            for a in &acc {
                for b in &item {
                    let mut v = a.clone();
                    v.extend(b.iter().cloned());
                    next.push(v);
                }
            }
            if next.len() > MAX_VARIANTS {
                return Err(format!(
                    "expands to more than {MAX_VARIANTS} variants; split it into several phrases"
                ));
            }
            acc = next;
        }
        Ok(acc)
    }
}

/// Parses and expands a phrase; the error says what is wrong in QA terms.
pub fn parse(src: &str) -> Result<Phrase, String> {
    let trimmed = src.trim();
    let (exact, body) = match trimmed.strip_prefix('=') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    if body.trim().is_empty() {
        return Err("empty phrase".into());
    }
    let mut p = P {
        toks: lex(body),
        at: 0,
    };
    let mut variants = p.seq()?;
    match p.toks.get(p.at) {
        None => {}
        Some(Tok::Close) => return Err("`)` without a matching `(`".into()),
        Some(_) => return Err("`|` outside parentheses; write `(a|b)`".into()),
    }
    let mut seen = std::collections::HashSet::new();
    variants.retain(|v| seen.insert(v.clone()));
    if variants.iter().any(|v| v.is_empty()) {
        return Err(
            "can match nothing after normalisation (only punctuation, or everything optional)"
                .into(),
        );
    }
    if variants
        .iter()
        .any(|v| v.iter().all(|w| *w == PatWord::Any))
    {
        return Err("has no words, only `*`: it would match anything".into());
    }
    Ok(Phrase { exact, variants })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(src: &str) -> Vec<String> {
        parse(src)
            .unwrap()
            .variants
            .iter()
            .map(|v| {
                v.iter()
                    .map(|w| match w {
                        PatWord::Word(s) => s.as_str(),
                        PatWord::Any => "*",
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn alternatives_and_optionals_expand() {
        assert_eq!(show("Добрый (день|вечер)"), ["добрый день", "добрый вечер"]);
        assert_eq!(
            show("отправлю (вам )?коммерческое предложение"),
            [
                "отправлю вам коммерческое предложение",
                "отправлю коммерческое предложение"
            ]
        );
        assert_eq!(show("как бы (вам|вы) (было)? удобнее").len(), 4);
        assert_eq!(show("компания *"), ["компания *"]);
        assert_eq!(
            show("(кп|коммерческое предложение)"),
            ["кп", "коммерческое предложение"]
        );
    }

    #[test]
    fn exact_prefix() {
        let p = parse("=ну").unwrap();
        assert!(p.exact);
        assert_eq!(show("=ну"), ["ну"]);
    }

    #[test]
    fn rejects_bad_phrases() {
        assert!(parse("").is_err());
        assert!(parse("   ").is_err());
        assert!(parse("!!!").is_err());
        assert!(parse("*").is_err());
        assert!(parse("(a|b").is_err());
        assert!(parse("a)").is_err());
        assert!(parse("a | b").is_err());
        assert!(parse("? a").is_err());
        assert!(parse("(вам)?").is_err());
    }
}
