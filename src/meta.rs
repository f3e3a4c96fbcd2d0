//! Call metadata: agent, call id, date, time, direction and phone number of a
//! call, read from the recording's file name by a pattern, or from a sidecar
//! CSV. Reports use it for the per-agent table and the filters.
//!
//! # File-name patterns
//!
//! A pattern is literal text with fields in braces and optional parts in
//! square brackets. It is matched against the whole file name, without its
//! folder and without an audio (or `.json`) extension:
//!
//! | field | matches | stored as |
//! |---|---|---|
//! | `{direction}` | `in`, `inbound`, `incoming`, `out`, `outbound`, `outgoing`, `internal`, `local` (any case) | `in`, `out` or `internal` |
//! | `{phone}` | digits, optionally with a leading `+` (at least 3 digits) | as written |
//! | `{agent}` | any text (the shortest that lets the rest match) | as written |
//! | `{date}` | `YYYYMMDD`, `YYYY-MM-DD`, `YYYY.MM.DD`, `YYYY_MM_DD`, `DD.MM.YYYY`, `DD-MM-YYYY` | `YYYY-MM-DD` |
//! | `{time}` | `HHMMSS`, `HH-MM-SS`, `HH:MM:SS`, `HH.MM.SS`, `HH_MM_SS` | `HH:MM:SS` |
//! | `{call_id}` | any text (the shortest that lets the rest match) | as written |
//! | `{*}` | any text, possibly empty; ignored | — |
//!
//! `[...]` makes a part optional (tried first with, then without), `\` takes
//! the next character literally. The default, [`DEFAULT_PATTERN`], reads both
//! the recorder names of the samples (`in-79161234567-101-20241105-103000.wav`)
//! and Asterisk-style names with a unique id at the end
//! (`out-79161234567-101-20240101-120000-1704100000.123.wav`). The pattern
//! `none` (or an empty pattern) reads nothing from file names.
//!
//! # Sidecar CSV
//!
//! One row per recording; the first row names the columns (any order, any
//! case; `,`, `;` or tab separated; UTF-8 with or without a byte-order mark,
//! as Excel saves it). The file column is required, every other is optional:
//!
//! | column | also accepted as |
//! |---|---|
//! | `file` | `file_name`, `filename`, `call`, `recording`, `path` |
//! | `agent` | `operator`, `agent_name`, `extension` |
//! | `call_id` | `id`, `uniqueid`, `unique_id` |
//! | `date`, `time`, `direction` | — (normalised as in patterns when they parse) |
//! | `phone` | `number`, `phone_number`, `caller`, `callerid`, `caller_id` |
//!
//! Other columns are ignored. A row matches a call by the exact call name,
//! else by its file name without folders, else by that name without its
//! extension. Values from the sidecar win over values read from the file name.

use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Reads recorder names `in-79161234567-101-20241105-103000.wav` and
/// Asterisk names `out-79161234567-101-20240101-120000-1704100000.123.wav`.
pub const DEFAULT_PATTERN: &str = "{direction}-{phone}-{agent}-{date}-{time}[-{call_id}]";

/// What is known about a call besides its audio. Every field is `None` when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallMeta {
    /// Agent name or extension, as the recorder or the sidecar writes it.
    #[serde(default)]
    pub agent: Option<String>,
    /// The recorder's or PBX's id of the call.
    #[serde(default)]
    pub call_id: Option<String>,
    /// `YYYY-MM-DD` when it parsed, else as written in the sidecar.
    #[serde(default)]
    pub date: Option<String>,
    /// `HH:MM:SS` when it parsed, else as written in the sidecar.
    #[serde(default)]
    pub time: Option<String>,
    /// `in`, `out` or `internal` when recognised, else as written in the sidecar.
    #[serde(default)]
    pub direction: Option<String>,
    /// The other party's number, as written.
    #[serde(default)]
    pub phone: Option<String>,
}

impl CallMeta {
    /// True when nothing at all is known.
    pub fn is_empty(&self) -> bool {
        *self == CallMeta::default()
    }

    /// `self` with every field that `over` knows replaced by `over`'s value.
    pub fn merged(mut self, over: &CallMeta) -> CallMeta {
        let pick = |a: &mut Option<String>, b: &Option<String>| {
            if b.is_some() {
                *a = b.clone();
            }
        };
        pick(&mut self.agent, &over.agent);
        pick(&mut self.call_id, &over.call_id);
        pick(&mut self.date, &over.date);
        pick(&mut self.time, &over.time);
        pick(&mut self.direction, &over.direction);
        pick(&mut self.phone, &over.phone);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Direction,
    Phone,
    Agent,
    Date,
    Time,
    CallId,
    Skip,
}

impl Field {
    fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "direction" => Field::Direction,
            "phone" => Field::Phone,
            "agent" => Field::Agent,
            "date" => Field::Date,
            "time" => Field::Time,
            "call_id" => Field::CallId,
            "*" => Field::Skip,
            _ => return None,
        })
    }

    /// The value to store when `s` is acceptable for this field.
    fn accept(self, s: &str) -> Option<String> {
        match self {
            Field::Skip => Some(String::new()),
            _ if s.is_empty() => None,
            Field::Direction => direction(s).map(str::to_string),
            Field::Phone => {
                let digits = s.strip_prefix('+').unwrap_or(s);
                (digits.len() >= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| s.to_string())
            }
            Field::Date => date(s),
            Field::Time => time(s),
            Field::Agent | Field::CallId => Some(s.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    Field(Field),
    Opt(Vec<Tok>),
}

/// A parsed file-name pattern (see the module documentation for the syntax).
#[derive(Debug, Clone, PartialEq)]
pub struct MetaPattern {
    source: String,
    /// Empty for the pattern `none`: nothing is read from file names.
    tokens: Vec<Tok>,
}

impl Default for MetaPattern {
    fn default() -> Self {
        DEFAULT_PATTERN.parse().expect("the default pattern parses")
    }
}

impl fmt::Display for MetaPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Why a pattern does not parse, with the character position (from 1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("meta pattern {pattern:?}, character {at}: {message}")]
pub struct PatternError {
    pub pattern: String,
    pub at: usize,
    pub message: String,
}

impl FromStr for MetaPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("none") {
            return Ok(MetaPattern {
                source: "none".into(),
                tokens: Vec::new(),
            });
        }
        let err = |at: usize, message: String| PatternError {
            pattern: s.to_string(),
            at: at + 1,
            message,
        };
        let chars: Vec<char> = s.chars().collect();
        // Stack of open optional groups; the bottom is the whole pattern.
        let mut stack: Vec<(usize, Vec<Tok>)> = vec![(0, Vec::new())];
        let mut seen: Vec<Field> = Vec::new();
        let mut i = 0;
        let push_lit = |toks: &mut Vec<Tok>, c: char| match toks.last_mut() {
            Some(Tok::Lit(l)) => l.push(c),
            _ => toks.push(Tok::Lit(c.to_string())),
        };
        while i < chars.len() {
            let c = chars[i];
            let toks = &mut stack.last_mut().expect("bottom group").1;
            match c {
                '\\' => {
                    let Some(&next) = chars.get(i + 1) else {
                        return Err(err(i, "`\\` at the end: nothing to escape".into()));
                    };
                    push_lit(toks, next);
                    i += 2;
                    continue;
                }
                '{' => {
                    let Some(close) = (i + 1..chars.len()).find(|&k| chars[k] == '}') else {
                        return Err(err(i, "`{` is never closed with `}`".into()));
                    };
                    let name: String = chars[i + 1..close].iter().collect();
                    let name = name.trim();
                    let Some(field) = Field::from_name(name) else {
                        return Err(err(
                            i,
                            format!(
                                "unknown field {{{name}}}; fields are {{direction}}, {{phone}}, {{agent}}, {{date}}, {{time}}, {{call_id}} and {{*}}"
                            ),
                        ));
                    };
                    if field != Field::Skip && seen.contains(&field) {
                        return Err(err(i, format!("{{{name}}} appears twice")));
                    }
                    seen.push(field);
                    toks.push(Tok::Field(field));
                    i = close + 1;
                    continue;
                }
                '}' => {
                    return Err(err(
                        i,
                        "`}` without `{` (write `\\}` for the character)".into(),
                    ))
                }
                '[' => stack.push((i, Vec::new())),
                ']' => {
                    if stack.len() == 1 {
                        return Err(err(
                            i,
                            "`]` without `[` (write `\\]` for the character)".into(),
                        ));
                    }
                    let (at, inner) = stack.pop().expect("checked");
                    if inner.is_empty() {
                        return Err(err(at, "empty optional part `[]`".into()));
                    }
                    stack
                        .last_mut()
                        .expect("bottom group")
                        .1
                        .push(Tok::Opt(inner));
                }
                _ => push_lit(toks, c),
            }
            i += 1;
        }
        if stack.len() > 1 {
            return Err(err(
                stack[stack.len() - 1].0,
                "`[` is never closed with `]`".into(),
            ));
        }
        if seen.iter().all(|f| *f == Field::Skip) {
            return Err(err(
                0,
                "no field to read; use e.g. {direction}-{phone}-{agent}-{date}-{time}, or `none`"
                    .into(),
            ));
        }
        Ok(MetaPattern {
            source: s.to_string(),
            tokens: stack.pop().expect("bottom group").1,
        })
    }
}

type Caps = Vec<(Field, String)>;

/// Gives up on pathological pattern/name pairs instead of backtracking forever.
const STEP_BUDGET: u32 = 200_000;

struct Matcher<'s> {
    s: &'s str,
    steps: Cell<u32>,
}

impl Matcher<'_> {
    fn run(
        &self,
        seq: &[Tok],
        pos: usize,
        caps: &mut Caps,
        k: &dyn Fn(usize, &mut Caps) -> bool,
    ) -> bool {
        if self.steps.get() == 0 {
            return false;
        }
        self.steps.set(self.steps.get() - 1);
        let Some(first) = seq.first() else {
            return k(pos, caps);
        };
        let rest = &seq[1..];
        match first {
            Tok::Lit(l) => {
                self.s[pos..].starts_with(l.as_str()) && self.run(rest, pos + l.len(), caps, k)
            }
            Tok::Field(f) => {
                let ends = std::iter::once(pos)
                    .chain(self.s[pos..].char_indices().skip(1).map(|(i, _)| pos + i))
                    .chain(std::iter::once(self.s.len()));
                let mut last = None;
                for end in ends {
                    if last == Some(end) {
                        continue;
                    }
                    last = Some(end);
                    if let Some(v) = f.accept(&self.s[pos..end]) {
                        caps.push((*f, v));
                        if self.run(rest, end, caps, k) {
                            return true;
                        }
                        caps.pop();
                    }
                    if self.steps.get() == 0 {
                        return false;
                    }
                }
                false
            }
            Tok::Opt(inner) => {
                let saved = caps.len();
                if self.run(inner, pos, caps, &|p, c| self.run(rest, p, c, k)) {
                    return true;
                }
                caps.truncate(saved);
                self.run(rest, pos, caps, k)
            }
        }
    }
}

/// The file name a pattern sees: no folders, no audio or `.json` extension.
pub fn name_stem(file_name: &str) -> &str {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && is_known_extension(ext) => stem,
        _ => base,
    }
}

fn is_known_extension(ext: &str) -> bool {
    let ext = ext.to_ascii_lowercase();
    ext == "json" || crate::batch::AUDIO_EXTENSIONS.contains(&ext.as_str())
}

/// Reads metadata from a call's file name (folders and the extension are
/// ignored). `None` when the pattern does not match the whole name or is `none`.
pub fn from_name(file_name: &str, pattern: &MetaPattern) -> Option<CallMeta> {
    if pattern.tokens.is_empty() {
        return None;
    }
    let stem = name_stem(file_name);
    let m = Matcher {
        s: stem,
        steps: Cell::new(STEP_BUDGET),
    };
    let mut caps = Caps::new();
    let out: std::cell::RefCell<Option<Caps>> = std::cell::RefCell::new(None);
    let ok = m.run(&pattern.tokens, 0, &mut caps, &|p, c| {
        if p == stem.len() {
            *out.borrow_mut() = Some(c.clone());
            true
        } else {
            false
        }
    });
    if !ok {
        return None;
    }
    let mut meta = CallMeta::default();
    for (f, v) in out.into_inner().unwrap_or_default() {
        let slot = match f {
            Field::Direction => &mut meta.direction,
            Field::Phone => &mut meta.phone,
            Field::Agent => &mut meta.agent,
            Field::Date => &mut meta.date,
            Field::Time => &mut meta.time,
            Field::CallId => &mut meta.call_id,
            Field::Skip => continue,
        };
        *slot = Some(v);
    }
    Some(meta)
}

fn direction(s: &str) -> Option<&'static str> {
    Some(match s.to_lowercase().as_str() {
        "in" | "inbound" | "incoming" => "in",
        "out" | "outbound" | "outgoing" => "out",
        "internal" | "local" => "internal",
        _ => return None,
    })
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD` from the date formats recorders write.
fn date(s: &str) -> Option<String> {
    let (y, m, d) = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        (&s[0..4], &s[4..6], &s[6..8])
    } else {
        let sep = s.chars().find(|c| !c.is_ascii_digit())?;
        if !matches!(sep, '-' | '.' | '_') {
            return None;
        }
        let parts: Vec<&str> = s.split(sep).collect();
        match parts.as_slice() {
            [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => (*y, *m, *d),
            [d, m, y] if y.len() == 4 && m.len() == 2 && d.len() == 2 && sep != '_' => (*y, *m, *d),
            _ => return None,
        }
    };
    let (yn, mn, dn) = (digits(y)?, digits(m)?, digits(d)?);
    ((1970..=2100).contains(&yn) && (1..=12).contains(&mn) && (1..=31).contains(&dn))
        .then(|| format!("{y}-{m}-{d}"))
}

/// `HH:MM:SS` from the time formats recorders write.
fn time(s: &str) -> Option<String> {
    let (h, m, sec) = if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
        (&s[0..2], &s[2..4], &s[4..6])
    } else {
        let sep = s.chars().find(|c| !c.is_ascii_digit())?;
        if !matches!(sep, '-' | ':' | '.' | '_') {
            return None;
        }
        match s.split(sep).collect::<Vec<_>>().as_slice() {
            [h, m, sec] if h.len() == 2 && m.len() == 2 && sec.len() == 2 => (*h, *m, *sec),
            _ => return None,
        }
    };
    let (hn, mn, sn) = (digits(h)?, digits(m)?, digits(sec)?);
    (hn < 24 && mn < 60 && sn <= 60).then(|| format!("{h}:{m}:{sec}"))
}

/// Why a sidecar CSV cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: line {line}: {detail}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        detail: String,
    },
    #[error("{}: no file column; name one of the columns `file`, `file_name`, `filename`, `call`, `recording` or `path` (columns found: {found})", path.display())]
    NoFileColumn { path: PathBuf, found: String },
    #[error("{}: line {line}: {name:?} is already listed on line {first_line}", path.display())]
    Duplicate {
        path: PathBuf,
        line: u64,
        name: String,
        first_line: u64,
    },
}

#[derive(Clone, Copy, PartialEq)]
enum Col {
    File,
    Agent,
    CallId,
    Date,
    Time,
    Direction,
    Phone,
}

fn column(name: &str) -> Option<Col> {
    let n = name.trim().to_lowercase().replace([' ', '-'], "_");
    Some(match n.as_str() {
        "file" | "file_name" | "filename" | "call" | "recording" | "path" => Col::File,
        "agent" | "operator" | "agent_name" | "extension" => Col::Agent,
        "call_id" | "id" | "uniqueid" | "unique_id" => Col::CallId,
        "date" => Col::Date,
        "time" => Col::Time,
        "direction" => Col::Direction,
        "phone" | "number" | "phone_number" | "caller" | "callerid" | "caller_id" => Col::Phone,
        _ => return None,
    })
}

/// Reads a sidecar CSV: file name (as written in its file column) → metadata.
pub fn load_sidecar(csv_path: &Path) -> Result<HashMap<String, CallMeta>, MetaError> {
    let bytes = std::fs::read(csv_path).map_err(|source| MetaError::Read {
        path: csv_path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(
        bytes
            .strip_prefix(&[0xEF, 0xBB, 0xBF][..])
            .unwrap_or(&bytes),
    )
    .into_owned();
    let first = text.lines().next().unwrap_or("");
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .unwrap_or(b',');
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| MetaError::Csv {
        path: csv_path.to_path_buf(),
        line: e.position().map_or(1, |p| p.line()),
        detail: e.to_string(),
    };
    let headers = r.headers().map_err(csv_err)?.clone();
    let cols: Vec<Option<Col>> = headers.iter().map(column).collect();
    if !cols.contains(&Some(Col::File)) {
        return Err(MetaError::NoFileColumn {
            path: csv_path.to_path_buf(),
            found: headers
                .iter()
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut out: HashMap<String, CallMeta> = HashMap::new();
    let mut lines: HashMap<String, u64> = HashMap::new();
    for rec in r.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        let mut file = None;
        let mut m = CallMeta::default();
        for (col, value) in cols.iter().zip(rec.iter()) {
            let v = value.trim();
            if v.is_empty() {
                continue;
            }
            let v = v.to_string();
            match col {
                Some(Col::File) => file = Some(v),
                Some(Col::Agent) => m.agent = Some(v),
                Some(Col::CallId) => m.call_id = Some(v),
                Some(Col::Date) => m.date = Some(date(&v).unwrap_or(v)),
                Some(Col::Time) => m.time = Some(time(&v).unwrap_or(v)),
                Some(Col::Direction) => m.direction = Some(direction(&v).map_or(v, str::to_string)),
                Some(Col::Phone) => m.phone = Some(v),
                None => {}
            }
        }
        let Some(file) = file else { continue };
        if let Some(&first_line) = lines.get(&file) {
            return Err(MetaError::Duplicate {
                path: csv_path.to_path_buf(),
                line,
                name: file,
                first_line,
            });
        }
        lines.insert(file.clone(), line);
        out.insert(file, m);
    }
    Ok(out)
}

/// Where call metadata comes from: a file-name pattern and/or a sidecar CSV.
#[derive(Debug, Clone)]
pub struct MetaSource {
    /// `None` reads nothing from file names.
    pub pattern: Option<MetaPattern>,
    /// From [`load_sidecar`]; empty when there is none.
    pub sidecar: HashMap<String, CallMeta>,
}

impl Default for MetaSource {
    /// The default pattern, no sidecar.
    fn default() -> Self {
        MetaSource {
            pattern: Some(MetaPattern::default()),
            sidecar: HashMap::new(),
        }
    }
}

impl MetaSource {
    /// Nothing from file names, no sidecar.
    pub fn none() -> Self {
        MetaSource {
            pattern: None,
            sidecar: HashMap::new(),
        }
    }

    fn sidecar_row(&self, call: &str) -> Option<&CallMeta> {
        if self.sidecar.is_empty() {
            return None;
        }
        let base = call.rsplit(['/', '\\']).next().unwrap_or(call);
        self.sidecar
            .get(call)
            .or_else(|| self.sidecar.get(base))
            .or_else(|| {
                let stem = name_stem(base);
                self.sidecar
                    .iter()
                    .find(|(k, _)| name_stem(k) == stem)
                    .map(|(_, v)| v)
            })
    }

    /// Metadata of a call by its name; empty when nothing is known.
    pub fn lookup(&self, call: &str) -> CallMeta {
        let from_name = self
            .pattern
            .as_ref()
            .and_then(|p| from_name(call, p))
            .unwrap_or_default();
        match self.sidecar_row(call) {
            Some(row) => from_name.merged(row),
            None => from_name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> MetaPattern {
        s.parse().unwrap()
    }

    #[test]
    fn default_pattern_reads_sample_names() {
        let m = from_name(
            "samples/audio/in-79161234567-101-20241105-103000.wav",
            &MetaPattern::default(),
        )
        .unwrap();
        assert_eq!(m.direction.as_deref(), Some("in"));
        assert_eq!(m.phone.as_deref(), Some("79161234567"));
        assert_eq!(m.agent.as_deref(), Some("101"));
        assert_eq!(m.date.as_deref(), Some("2024-11-05"));
        assert_eq!(m.time.as_deref(), Some("10:30:00"));
        assert_eq!(m.call_id, None);
        let m = from_name(
            "out-74951234567-102-20241105-111500.mp3",
            &MetaPattern::default(),
        )
        .unwrap();
        assert_eq!(m.direction.as_deref(), Some("out"));
    }

    #[test]
    fn default_pattern_reads_asterisk_names() {
        let m = from_name(
            "out-79161234567-101-20240101-120000-1704100000.123.wav",
            &MetaPattern::default(),
        )
        .unwrap();
        assert_eq!(m.direction.as_deref(), Some("out"));
        assert_eq!(m.phone.as_deref(), Some("79161234567"));
        assert_eq!(m.agent.as_deref(), Some("101"));
        assert_eq!(m.date.as_deref(), Some("2024-01-01"));
        assert_eq!(m.time.as_deref(), Some("12:00:00"));
        assert_eq!(m.call_id.as_deref(), Some("1704100000.123"));
    }

    #[test]
    fn names_that_do_not_fit_give_nothing() {
        for name in [
            "inbound-sales-ru--01.wav",
            "<script>alert(1)</script>.wav",
            "in-79161234567-101-20241305-103000.wav",
            "x.wav",
            "",
        ] {
            assert_eq!(from_name(name, &MetaPattern::default()), None, "{name}");
        }
        assert_eq!(
            from_name("in-79161234567-101-20241105-103000.wav", &p("none")),
            None
        );
    }

    #[test]
    fn custom_patterns() {
        let m = from_name(
            "2024-11-05_10-30-00_ivanov_+79161234567_in.wav",
            &p("{date}_{time}_{agent}_{phone}_{direction}"),
        )
        .unwrap();
        assert_eq!(m.agent.as_deref(), Some("ivanov"));
        assert_eq!(m.phone.as_deref(), Some("+79161234567"));
        assert_eq!(m.time.as_deref(), Some("10:30:00"));
        let m = from_name(
            "rec[1] 05.11.2024 agent=petrov.wav",
            &p("rec\\[{*}\\] {date} agent={agent}"),
        )
        .unwrap();
        assert_eq!(m.date.as_deref(), Some("2024-11-05"));
        assert_eq!(m.agent.as_deref(), Some("petrov"));
    }

    #[test]
    fn bad_patterns_say_where() {
        for (pat, needle) in [
            ("{direction}-{phone", "never closed"),
            ("{dir}", "unknown field"),
            ("{agent}-{agent}", "twice"),
            ("{agent}]", "without `[`"),
            ("[{agent}", "never closed"),
            ("just text", "no field"),
            ("{agent}[]", "empty optional"),
        ] {
            let e = pat.parse::<MetaPattern>().unwrap_err();
            assert!(e.to_string().contains(needle), "{pat}: {e}");
        }
    }

    #[test]
    fn pathological_names_end() {
        let name = "-".repeat(250);
        assert_eq!(from_name(&name, &p("{*}-{*}-{*}-{*}-{*}-{agent}x")), None);
    }

    #[test]
    fn sidecar_merges_over_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("meta.csv");
        std::fs::write(
            &f,
            "\u{feff}Файл;ignored;Agent;Date;Direction\n\
             \"x;1.wav\";1;Иванова;05.11.2024;incoming\n\
             in-79161234567-101-20241105-103000.wav;;Петров;;\n",
        )
        .unwrap();
        // No file column: the Cyrillic header is not one of the names.
        assert!(matches!(
            load_sidecar(&f),
            Err(MetaError::NoFileColumn { .. })
        ));
        std::fs::write(
            &f,
            "\u{feff}File;ignored;Agent;Date;Direction\n\
             \"x;1.wav\";1;Иванова;05.11.2024;incoming\n\
             in-79161234567-101-20241105-103000.wav;;Петров;;\n",
        )
        .unwrap();
        let rows = load_sidecar(&f).unwrap();
        let src = MetaSource {
            pattern: Some(MetaPattern::default()),
            sidecar: rows,
        };
        let m = src.lookup("x;1.wav");
        assert_eq!(m.agent.as_deref(), Some("Иванова"));
        assert_eq!(m.date.as_deref(), Some("2024-11-05"));
        assert_eq!(m.direction.as_deref(), Some("in"));
        let m = src.lookup("audio/in-79161234567-101-20241105-103000.wav");
        assert_eq!(m.agent.as_deref(), Some("Петров"));
        assert_eq!(m.phone.as_deref(), Some("79161234567"));
        assert!(src.lookup("other.wav").is_empty());
        std::fs::write(&f, "file,agent\na.wav,1\nb.wav,2\na.wav,3\n").unwrap();
        let e = load_sidecar(&f).unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("line 2"), "{e}");
    }
}
