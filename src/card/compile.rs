//! Validation and compilation of a card. Every problem is collected with its
//! `file:line:column`; nothing is scored with a card that does not validate.

use super::locate::Positions;
use super::phrase::{self, PatWord};
use super::schema::{CardFile, Channels, GoldenSpec, SpeakerSpec, StageSpec};
use crate::matcher::{Matcher, PatternSpec};
use crate::metrics::{self, MetricRules};
use crate::text::Lang;
use crate::types::{Seconds, StageId};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One thing wrong with a card, where it is, and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("{}: cannot read card: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub name: String,
    /// Exclusive upper bound; `None` for the last, open-ended bucket.
    pub max: Option<Seconds>,
}

#[derive(Debug, Clone)]
pub enum StageKind {
    /// Heard when `min_hits` distinct phrases of `say` are said by `speaker`
    /// inside the time window.
    Say {
        speaker: SpeakerSpec,
        from_start: Option<Seconds>,
        before_end: Option<Seconds>,
        min_hits: usize,
        say: Vec<usize>,
    },
    /// Each `when` phrase must be answered by a `then` phrase within `within`.
    Reply {
        when_speaker: SpeakerSpec,
        when: Vec<usize>,
        then_speaker: SpeakerSpec,
        within: Seconds,
        then: Vec<usize>,
    },
}

impl StageKind {
    /// Stands in for a stage whose error is already reported; the card
    /// will not compile, so it is never scored.
    fn invalid() -> StageKind {
        StageKind::Say {
            speaker: SpeakerSpec::Agent,
            from_start: None,
            before_end: None,
            min_hits: 1,
            say: vec![],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub id: StageId,
    pub title: String,
    pub weight: f64,
    pub required: bool,
    /// Indices of stages this one must follow.
    pub after: Vec<usize>,
    pub kind: StageKind,
}

#[derive(Debug, Clone)]
pub struct Violation {
    pub id: StageId,
    pub title: String,
    pub speaker: SpeakerSpec,
    pub say: Vec<usize>,
    pub except: Vec<usize>,
    pub penalty: f64,
    pub max_penalty: Option<f64>,
    pub critical: bool,
}

/// A validated card ready to score calls.
#[derive(Debug)]
pub struct CompiledCard {
    pub id: String,
    pub title: String,
    pub language: String,
    pub version: u32,
    pub channels: Channels,
    pub fuzzy: bool,
    pub buckets: Vec<Bucket>,
    pub stages: Vec<Stage>,
    pub violations: Vec<Violation>,
    pub golden: Option<GoldenSpec>,
    pub metrics: MetricRules,
    /// Phrase table: the text as written, indexed by the rules above;
    /// shared with every piece of evidence that quotes it.
    pub phrases: Vec<Arc<str>>,
    /// Expanded variants per phrase, for `card explain`.
    pub variants: Vec<Vec<Vec<PatWord>>>,
    pub matcher: Matcher,
}

impl CompiledCard {
    pub fn bucket_for(&self, duration: Seconds) -> &str {
        self.buckets
            .iter()
            .find(|b| b.max.is_none_or(|m| duration.0 < m.0))
            .map_or("", |b| b.name.as_str())
    }
}

pub fn load(path: &Path) -> Result<CompiledCard, CardError> {
    let src = std::fs::read_to_string(path).map_err(|source| CardError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    compile_str(&src, path)
}

struct Ctx<'a> {
    file: &'a Path,
    pos: Positions,
    problems: Vec<Problem>,
    phrases: Vec<Arc<str>>,
    variants: Vec<Vec<Vec<PatWord>>>,
    specs: Vec<PatternSpec>,
}

impl Ctx<'_> {
    fn err(&mut self, path: &str, message: impl Into<String>, hint: Option<&str>) {
        let (line, column) = self.pos.find(path);
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
            hint: hint.map(str::to_string),
        });
    }

    fn phrase_list(&mut self, path: &str, list: &[String]) -> Vec<usize> {
        if list.is_empty() {
            self.err(
                path,
                format!("`{}` has no phrases", leaf(path)),
                Some("list at least one phrase"),
            );
        }
        let mut out = Vec::new();
        for (i, text) in list.iter().enumerate() {
            let p = format!("{path}[{i}]");
            match phrase::parse(text) {
                Ok(parsed) => {
                    let idx = self.phrases.len();
                    self.phrases.push(text.as_str().into());
                    for v in &parsed.variants {
                        self.specs.push(PatternSpec {
                            phrase: idx,
                            words: v.clone(),
                            exact: parsed.exact,
                        });
                    }
                    self.variants.push(parsed.variants);
                    out.push(idx);
                }
                Err(why) => self.err(
                    &p,
                    format!("phrase {text:?}: {why}"),
                    Some("see the phrase syntax in checklists/README.md"),
                ),
            }
        }
        out
    }

    fn positive(&mut self, path: &str, v: f64) {
        if !(v.is_finite() && v > 0.0) {
            self.err(
                path,
                format!("`{}` must be greater than 0, got {v}", leaf(path)),
                None,
            );
        }
    }

    fn non_negative(&mut self, path: &str, v: f64) {
        if !(v.is_finite() && v >= 0.0) {
            self.err(
                path,
                format!("`{}` must be 0 or more, got {v}", leaf(path)),
                None,
            );
        }
    }
}

fn leaf(path: &str) -> &str {
    let tail = path.rsplit('.').next().unwrap_or(path);
    tail.split('[').next().unwrap_or(tail)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Parses, validates and compiles card text; `file` names it in errors.
pub fn compile_str(src: &str, file: &Path) -> Result<CompiledCard, CardError> {
    let raw: CardFile =
        serde_yaml::from_str(src).map_err(|e| CardError::Invalid(vec![yaml_problem(file, &e)]))?;
    let mut cx = Ctx {
        file,
        pos: Positions::parse(src),
        problems: Vec::new(),
        phrases: Vec::new(),
        variants: Vec::new(),
        specs: Vec::new(),
    };

    if !valid_id(&raw.card) {
        cx.err(
            "card",
            format!("card id {:?} is not valid", raw.card),
            Some("use lower-case letters, digits, `-` and `_`"),
        );
    }
    if raw.language.trim().is_empty() {
        cx.err(
            "language",
            "`language` is empty",
            Some("a Whisper language code such as ru or en"),
        );
    }
    if raw.version == 0 {
        cx.err("version", "`version` must be 1 or more", None);
    }
    if raw.stages.is_empty() {
        cx.err(
            "stages",
            "the card has no stages",
            Some("list the script stages in order"),
        );
    }

    let buckets = compile_buckets(&mut cx, &raw);

    // Ids are shared by stages and violations: reports and results key on them.
    let mut seen: HashMap<String, String> = HashMap::new();
    let ids = raw
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("stages[{i}].id"), &s.id))
        .chain(
            raw.violations
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("violations[{i}].id"), &v.id)),
        )
        .collect::<Vec<_>>();
    for (path, id) in ids {
        if !valid_id(id) {
            cx.err(
                &path,
                format!("id {id:?} is not valid"),
                Some("use lower-case letters, digits, `-` and `_`"),
            );
        }
        if let Some(first) = seen.get(id) {
            let (line, _) = cx.pos.find(first);
            cx.err(
                &path,
                format!("duplicate id {id:?}"),
                Some(&format!("already used at line {line}; ids must be unique")),
            );
        } else {
            seen.insert(id.clone(), path);
        }
    }

    let stage_index: HashMap<&str, usize> = raw
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let stages: Vec<Stage> = raw
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| compile_stage(&mut cx, i, s, &stage_index))
        .collect();
    check_cycles(&mut cx, &stages);

    let mut violations = Vec::new();
    for (i, v) in raw.violations.iter().enumerate() {
        let path = format!("violations[{i}]");
        let say = cx.phrase_list(&format!("{path}.say"), &v.say);
        let except = cx.phrase_list_opt(&format!("{path}.except"), &v.except);
        let penalty = v.penalty.unwrap_or(1.0);
        cx.non_negative(&format!("{path}.penalty"), penalty);
        if let Some(m) = v.max_penalty {
            cx.non_negative(&format!("{path}.max_penalty"), m);
        }
        violations.push(Violation {
            id: StageId(v.id.clone()),
            title: v.title.clone().unwrap_or_else(|| v.id.clone()),
            speaker: v.speaker.unwrap_or(SpeakerSpec::Agent),
            say,
            except,
            penalty,
            max_penalty: v.max_penalty,
            critical: v.critical,
        });
    }

    if let Some(g) = &raw.golden {
        if !(0.0..=100.0).contains(&g.min_score) {
            cx.err(
                "golden.min_score",
                format!("`min_score` must be within 0..100, got {}", g.min_score),
                None,
            );
        }
        if g.top == 0 {
            cx.err("golden.top", "`top` must be 1 or more", None);
        }
        for (i, b) in g.exclude_buckets.iter().enumerate() {
            if !buckets.iter().any(|x| &x.name == b) {
                cx.err(
                    &format!("golden.exclude_buckets[{i}]"),
                    format!("unknown bucket {b:?}"),
                    Some("name one of the card's buckets"),
                );
            }
        }
    }
    for (path, message) in metrics::validate(&raw.metrics) {
        cx.err(&path, message, None);
    }

    if !cx.problems.is_empty() {
        cx.problems.sort_by_key(|p| (p.line, p.column));
        return Err(CardError::Invalid(cx.problems));
    }
    let lang = Lang::new(&raw.language);
    Ok(CompiledCard {
        title: raw.title.clone().unwrap_or_else(|| raw.card.clone()),
        id: raw.card,
        language: raw.language,
        version: raw.version,
        channels: raw.channels,
        fuzzy: raw.fuzzy,
        buckets,
        stages,
        violations,
        golden: raw.golden,
        metrics: raw.metrics,
        matcher: Matcher::new(cx.specs, lang, raw.fuzzy),
        phrases: cx.phrases,
        variants: cx.variants,
    })
}

impl Ctx<'_> {
    fn phrase_list_opt(&mut self, path: &str, list: &[String]) -> Vec<usize> {
        if list.is_empty() {
            Vec::new()
        } else {
            self.phrase_list(path, list)
        }
    }
}

fn compile_buckets(cx: &mut Ctx, raw: &CardFile) -> Vec<Bucket> {
    let Some(spec) = &raw.buckets else {
        return vec![
            Bucket {
                name: "short".into(),
                max: Some(Seconds(40.0)),
            },
            Bucket {
                name: "medium".into(),
                max: Some(Seconds(300.0)),
            },
            Bucket {
                name: "long".into(),
                max: None,
            },
        ];
    };
    if spec.0.is_empty() {
        cx.err(
            "buckets",
            "`buckets` is empty",
            Some("omit it for the defaults short < 40 s, medium < 300 s, long"),
        );
    }
    let mut prev: Option<f64> = None;
    let mut names = HashSet::new();
    for (i, (name, max)) in spec.0.iter().enumerate() {
        let path = format!("buckets.{name}");
        if !names.insert(name) {
            cx.err(&path, format!("duplicate bucket {name:?}"), None);
        }
        let last = i + 1 == spec.0.len();
        match (max, last) {
            (None, false) => cx.err(
                &path,
                format!("bucket {name:?} has no `max` but is not the last"),
                Some("only the last bucket is open-ended"),
            ),
            (Some(_), true) => cx.err(
                &path,
                format!("the last bucket {name:?} has a `max`"),
                Some("the last bucket takes every longer call: write `{name}: {{}}`"),
            ),
            (Some(m), false) => {
                cx.positive(&format!("{path}.max"), *m);
                if prev.is_some_and(|p| *m <= p) {
                    cx.err(
                        &path,
                        format!("bucket {name:?} (max {m}) is out of order"),
                        Some("list buckets from shortest to longest"),
                    );
                }
                prev = Some(*m);
            }
            (None, true) => {}
        }
    }
    spec.0
        .iter()
        .map(|(name, max)| Bucket {
            name: name.clone(),
            max: max.map(Seconds),
        })
        .collect()
}

fn compile_stage(cx: &mut Ctx, i: usize, s: &StageSpec, index: &HashMap<&str, usize>) -> Stage {
    let path = format!("stages[{i}]");
    let weight = s.weight.unwrap_or(10.0);
    cx.positive(&format!("{path}.weight"), weight);
    let mut after = Vec::new();
    for (j, a) in s.after.iter().enumerate() {
        match index.get(a.as_str()) {
            Some(&k) if k == i => cx.err(
                &format!("{path}.after[{j}]"),
                format!("stage {:?} cannot come after itself", s.id),
                None,
            ),
            Some(&k) => after.push(k),
            None => cx.err(
                &format!("{path}.after[{j}]"),
                format!("`after` names unknown stage {a:?}"),
                Some("name a stage id of this card"),
            ),
        }
    }
    let kind = match (&s.say, &s.when, &s.then) {
        (Some(say), None, None) => {
            let say_idx = cx.phrase_list(&format!("{path}.say"), say);
            let min_hits = s.min_hits.unwrap_or(1) as usize;
            if min_hits == 0 || min_hits > say.len().max(1) {
                cx.err(
                    &format!("{path}.min_hits"),
                    format!(
                        "`min_hits` is {min_hits} but the stage lists {} phrases",
                        say.len()
                    ),
                    Some("min_hits counts distinct phrases of `say`"),
                );
            }
            let (from_start, before_end) = match &s.within {
                Some(w) => {
                    if w.from_start.is_none() && w.before_end.is_none() {
                        cx.err(
                            &format!("{path}.within"),
                            "`within` sets neither `from_start` nor `before_end`",
                            None,
                        );
                    }
                    for (k, v) in [("from_start", w.from_start), ("before_end", w.before_end)] {
                        if let Some(v) = v {
                            cx.positive(&format!("{path}.within.{k}"), v);
                        }
                    }
                    (w.from_start.map(Seconds), w.before_end.map(Seconds))
                }
                None => (None, None),
            };
            StageKind::Say {
                speaker: s.speaker.unwrap_or(SpeakerSpec::Agent),
                from_start,
                before_end,
                min_hits,
                say: say_idx,
            }
        }
        (None, Some(when), Some(then)) => {
            if s.within.is_some() || s.min_hits.is_some() {
                cx.err(
                    &path,
                    "a reply stage (`when`/`then`) takes no `within` or `min_hits`",
                    Some("put the answer window in `then.within`"),
                );
            }
            let when_idx = cx.phrase_list(&format!("{path}.when.say"), &when.say);
            let then_idx = cx.phrase_list(&format!("{path}.then.say"), &then.say);
            let within = then.within.unwrap_or(30.0);
            cx.positive(&format!("{path}.then.within"), within);
            StageKind::Reply {
                when_speaker: when.speaker.unwrap_or(SpeakerSpec::Customer),
                when: when_idx,
                then_speaker: then.speaker.or(s.speaker).unwrap_or(SpeakerSpec::Agent),
                within: Seconds(within),
                then: then_idx,
            }
        }
        (None, None, None) => {
            cx.err(
                &path,
                format!("stage {:?} has no phrases", s.id),
                Some("add `say: [...]`, or `when:` and `then:` for a reply stage"),
            );
            StageKind::invalid()
        }
        _ => {
            cx.err(
                &path,
                format!(
                    "stage {:?} mixes `say` with `when`/`then`, or has only one of `when`/`then`",
                    s.id
                ),
                Some("a stage is either `say: [...]` or a reply rule with both `when` and `then`"),
            );
            StageKind::invalid()
        }
    };
    Stage {
        id: StageId(s.id.clone()),
        title: s.title.clone().unwrap_or_else(|| s.id.clone()),
        weight,
        required: s.required,
        after,
        kind,
    }
}

/// `after` must not loop: a → b → a can never be satisfied.
fn check_cycles(cx: &mut Ctx, stages: &[Stage]) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        i: usize,
        stages: &[Stage],
        marks: &mut [Mark],
        trail: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        match marks[i] {
            Mark::Done => return None,
            Mark::Open => {
                let from = trail.iter().position(|&x| x == i).unwrap_or(0);
                return Some(trail[from..].to_vec());
            }
            Mark::New => {}
        }
        marks[i] = Mark::Open;
        trail.push(i);
        for &j in &stages[i].after {
            if let Some(c) = visit(j, stages, marks, trail) {
                return Some(c);
            }
        }
        trail.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; stages.len()];
    for i in 0..stages.len() {
        if let Some(cycle) = visit(i, stages, &mut marks, &mut Vec::new()) {
            let names: Vec<&str> = cycle
                .iter()
                .chain(cycle.first())
                .map(|&k| stages[k].id.0.as_str())
                .collect();
            cx.err(
                &format!("stages[{}].after", cycle[0]),
                format!("`after` forms a cycle: {}", names.join(" → ")),
                Some("order rules must not loop"),
            );
            return;
        }
    }
}

fn yaml_problem(file: &Path, e: &serde_yaml::Error) -> Problem {
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let message = strip_position(&e.to_string());
    let hint = if message.contains("unknown field") {
        Some("check the spelling; the card format is in checklists/README.md".to_string())
    } else if message.contains("missing field") {
        Some("this key is required".to_string())
    } else if message.contains("did not find expected")
        || message.contains("mapping values are not allowed")
        || message.contains("found character")
    {
        Some("broken YAML: check indentation and quotes (a phrase with `:` or `*` at the start needs quotes)".to_string())
    } else {
        None
    };
    Problem {
        file: file.to_path_buf(),
        line,
        column,
        message,
        hint,
    }
}

/// serde_yaml puts " at line L column C" inside its messages; the position
/// is already in front of ours.
fn strip_position(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else {
        return msg.to_string();
    };
    let rest = &msg[i + " at line ".len()..];
    let skip = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ' ' || "column".contains(c)))
        .unwrap_or(rest.len());
    format!("{}{}", &msg[..i], &rest[skip..])
}

/// What the card will look for, after normalisation and stemming, so a QA
/// lead can see why a phrase does or does not match.
pub fn explain(card: &CompiledCard) -> String {
    use std::fmt::Write;
    let lang = card.matcher.lang();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "card {} v{} — {} (language {}, {})",
        card.id,
        card.version,
        card.title,
        card.language,
        if lang.has_stemmer() {
            "stemmed matching"
        } else {
            "exact matching: no stemmer for this language"
        }
    );
    let _ = writeln!(
        out,
        "buckets: {}",
        card.buckets
            .iter()
            .map(|b| match b.max {
                Some(m) => format!("{} < {} s", b.name, m.0),
                None => format!("{} longer", b.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    if card.fuzzy {
        let _ = writeln!(
            out,
            "fuzzy: words of 5+ letters also match with one letter wrong"
        );
    }
    let show = |out: &mut String, label: &str, idx: &[usize]| {
        for &p in idx {
            let exact = card.phrases[p].trim_start().starts_with('=');
            let mut shown = std::collections::HashSet::new();
            for v in &card.variants[p] {
                let keys: Vec<String> = v
                    .iter()
                    .map(|w| match w {
                        PatWord::Any => "*".to_string(),
                        PatWord::Word(n) if exact => format!("={n}"),
                        PatWord::Word(n) => lang.stem(n),
                    })
                    .collect();
                // Several spellings can stem alike («целей», «цели»): show each form once.
                if shown.insert(keys.clone()) {
                    let _ = writeln!(
                        out,
                        "    {label} {:?} → {}",
                        card.phrases[p],
                        keys.join(" ")
                    );
                }
            }
        }
    };
    for s in &card.stages {
        let _ = writeln!(
            out,
            "stage {} «{}» weight {}{}",
            s.id,
            s.title,
            s.weight,
            if s.required { ", required" } else { "" }
        );
        if !s.after.is_empty() {
            let _ = writeln!(
                out,
                "  after: {}",
                s.after
                    .iter()
                    .map(|&i| card.stages[i].id.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        match &s.kind {
            StageKind::Say {
                speaker,
                from_start,
                before_end,
                min_hits,
                say,
            } => {
                let _ = writeln!(
                    out,
                    "  said by {speaker:?}{}{}, {} distinct phrase(s) needed",
                    from_start
                        .map(|s| format!(", in the first {} s", s.0))
                        .unwrap_or_default(),
                    before_end
                        .map(|s| format!(", in the last {} s", s.0))
                        .unwrap_or_default(),
                    min_hits
                );
                show(&mut out, "say", say);
            }
            StageKind::Reply {
                when_speaker,
                when,
                then_speaker,
                within,
                then,
            } => {
                let _ = writeln!(out, "  when {when_speaker:?} says one of these, {then_speaker:?} must answer within {} s (otherwise not applicable)", within.0);
                show(&mut out, "when", when);
                show(&mut out, "then", then);
            }
        }
    }
    for v in &card.violations {
        let _ = writeln!(
            out,
            "violation {} «{}» by {:?}: {}",
            v.id,
            v.title,
            v.speaker,
            if v.critical {
                "critical, fails the call".to_string()
            } else {
                format!(
                    "-{} per hit{}",
                    v.penalty,
                    v.max_penalty
                        .map(|m| format!(", at most -{m}"))
                        .unwrap_or_default()
                )
            }
        );
        show(&mut out, "say", &v.say);
        show(&mut out, "except", &v.except);
    }
    out
}
