//! Source positions for card errors found after deserialising.
//!
//! serde_yaml reports positions only for syntax and type errors; a duplicate
//! id or an unknown `after` is found later, so we walk the YAML events once
//! and remember where each path (`stages[2].after[0]`) starts.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, idx: usize },
}

#[derive(Default)]
pub struct Positions {
    /// path → (line, column), 1-based; the value's position.
    values: HashMap<String, (usize, usize)>,
}

impl Positions {
    pub fn parse(source: &str) -> Positions {
        let mut walker = Walker {
            stack: Vec::new(),
            pos: Positions::default(),
        };
        // Syntax errors are reported by serde_yaml; here a failed walk only
        // means fewer positions.
        let _ = Parser::new_from_str(source).load(&mut walker, false);
        walker.pos
    }

    /// Position of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> (usize, usize) {
        let mut p = path.to_string();
        loop {
            if let Some(&lc) = self.values.get(&p) {
                return lc;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return self.values.get("").copied().unwrap_or((1, 1)),
            }
        }
    }
}

struct Walker {
    stack: Vec<Frame>,
    pos: Positions,
}

impl Walker {
    /// The path of the node starting now, or None when it is a map key.
    fn node_path(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, idx }) => Some(format!("{path}[{idx}]")),
            Some(Frame::Map { path, key }) => key.as_ref().map(|k| {
                if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                }
            }),
        }
    }

    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Seq { idx, .. }) => *idx += 1,
            Some(Frame::Map { key, .. }) => *key = None,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let lc = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(value, ..) => match self.node_path() {
                Some(path) => {
                    self.pos.values.entry(path).or_insert(lc);
                    self.value_done();
                }
                None => {
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some(value);
                    }
                }
            },
            Event::Alias(_) if self.node_path().is_some() => self.value_done(),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.node_path().unwrap_or_default();
                self.pos.values.entry(path.clone()).or_insert(lc);
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map { path, key: None }
                } else {
                    Frame::Seq { path, idx: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_paths() {
        let src = "card: x\nstages:\n  - id: a\n    after: [b, c]\n  - id: d\n";
        let p = Positions::parse(src);
        assert_eq!(p.find("card"), (1, 7));
        assert_eq!(p.find("stages[0].id"), (3, 9));
        assert_eq!(p.find("stages[0].after[1]"), (4, 16));
        assert_eq!(p.find("stages[1].id"), (5, 9));
        // An absent key falls back to its parent mapping's line.
        assert_eq!(p.find("stages[1].weight").0, 5);
    }
}
