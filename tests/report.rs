//! The report folder end to end, without a model: stored transcripts are
//! scored with `callqa score --transcripts`, then the pages are opened in a
//! real browser (Debian's headless chromium) and their DOM is checked. Also:
//! escaping of hostile file names and transcript text, redaction, the audio
//! player, call metadata, and `golden::export`.

use assert_cmd::Command;
use callqa::card;
use callqa::golden;
use callqa::meta::{CallMeta, MetaSource};
use callqa::report::{self, BatchResults, CallPage, ReportOptions, Results, TranscriptRef};
use callqa::score::score;
use callqa::transcript::{Segment, SourceInfo, Transcript, TRANSCRIPT_SCHEMA};
use callqa::types::{Seconds, Speaker};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CARD: &str = "checklists/inbound-sales-ru.yaml";
const XSS_NAME: &str = "<script>alert(1)</script>.wav";
const MARKUP: &str = "<b>bold</b><img src=x onerror=alert(2)> ";
const PHONE_SAID: &str = "мой номер +7 (916) 123-45-67";
/// The recorder names the labelled calls get, so metadata can be read from them.
const NAMES: [&str; 7] = [
    "in-79165550001-101-20241101-090000.wav",
    "in-79165550002-102-20241101-093000.wav",
    "in-79165550003-101-20241102-100000.wav",
    "in-79165550004-103-20241102-110000.wav",
    "in-79165550005-102-20241103-120000.wav",
    "out-79165550006-101-20241103-130000.wav",
    "out-79165550007-103-20241104-140000.wav",
];
const GOLDEN_CALL: &str = "out-74959876543-102-20241107-100000.wav";

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// A sample call's ground truth (samples/truth) as a callqa transcript.
fn truth_transcript(name: &str) -> Transcript {
    let stem = name.rsplit_once('.').unwrap().0;
    let t = read_json(&PathBuf::from(format!("samples/truth/{stem}.json")));
    let channels = t["channels"].as_u64().unwrap() as u16;
    Transcript {
        schema: TRANSCRIPT_SCHEMA.into(),
        source: SourceInfo {
            path: name.into(),
            sha256: String::new(),
            duration: Seconds(t["duration"].as_f64().unwrap()),
            channels,
            sample_rate: 8000,
            codec: "truth".into(),
        },
        recognition: None,
        regions: Vec::new(),
        segments: t["turns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| Segment {
                start: Seconds(x["start"].as_f64().unwrap()),
                end: Seconds(x["end"].as_f64().unwrap()),
                speaker: if channels == 2 {
                    serde_json::from_value(x["speaker"].clone()).unwrap()
                } else {
                    Speaker::Unknown
                },
                text: x["text"].as_str().unwrap().into(),
            })
            .collect(),
        warnings: Vec::new(),
    }
}

fn labelled(i: usize) -> Transcript {
    let p = format!("tests/labelled/calls/inbound-sales-ru--{i:02}.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn save(dir: &Path, file: &str, t: &Transcript) {
    std::fs::write(dir.join(file), serde_json::to_vec_pretty(t).unwrap()).unwrap();
}

/// Stored transcripts for `callqa score --transcripts`: the eight labelled
/// inbound-sales calls (seven renamed recorder-style, one keeping its name),
/// a copy of call 01 named `<script>alert(1)</script>.wav` whose transcript
/// holds markup and a spoken phone number, the golden sample call, and a
/// file that is not a transcript.
fn fixture(root: &Path) -> PathBuf {
    let dir = root.join("in");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 1..=8 {
        let mut t = labelled(i);
        if i <= NAMES.len() {
            t.source.path = NAMES[i - 1].into();
        }
        save(&dir, &format!("inbound-sales-ru--{i:02}.json"), &t);
    }
    let mut x = labelled(1);
    x.source.path = XSS_NAME.into();
    x.segments[0].text = format!("{MARKUP}{}", x.segments[0].text);
    let c = x
        .segments
        .iter()
        .position(|s| s.speaker == Speaker::Customer)
        .unwrap();
    x.segments[c].text = format!("{}, {PHONE_SAID}", x.segments[c].text);
    save(&dir, "xss.json", &x);
    save(&dir, "golden.json", &truth_transcript(GOLDEN_CALL));
    std::fs::write(dir.join("broken <i>x.json"), "not a transcript").unwrap();
    dir
}

/// Scores the fixture into `root/<out>`; exit 3 because one input failed.
fn score_fixture(root: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let input = fixture(root);
    let out = root.join(out);
    Command::cargo_bin("callqa")
        .unwrap()
        .args(["score", "--card", CARD, "--transcripts"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .assert()
        .code(3);
    out
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn html_pages(dir: &Path) -> Vec<(PathBuf, String)> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .map(|p| {
            let s = std::fs::read_to_string(&p).unwrap();
            (p, s)
        })
        .collect()
}

/// Values of every `href="…"` and `src="…"` in a page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in [" href=\"", " src=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            // As the browser reads it: tera writes `/` as `&#x2F;`.
            out.push(
                rest[..rest.find('"').unwrap()]
                    .replace("&#x2F;", "/")
                    .replace("&amp;", "&"),
            );
        }
    }
    out
}

fn call_index(results: &Value, call: &str) -> usize {
    results["calls"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["call"] == call)
        .unwrap_or_else(|| panic!("{call} not in results.json"))
}

#[test]
fn report_folder_results_and_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let out = score_fixture(tmp.path(), "report", &[]);

    let r = read_json(&out.join("results.json"));
    assert_eq!(r["schema"], report::RESULTS_SCHEMA);
    let calls = r["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 10);
    for c in calls {
        assert_eq!(c["schema"], "callqa.result/1");
        assert!(out.join(c["page"].as_str().unwrap()).is_file(), "{c}");
        let t = out.join(c["transcript"].as_str().unwrap());
        assert_eq!(
            read_json(&t)["source"]["path"],
            c["call"],
            "the transcript copy is the call's"
        );
        assert!(
            c["audio"].is_null(),
            "scored from transcripts: no recording"
        );
    }
    // Metadata from recorder-style names; none from the others.
    let m = &calls[call_index(&r, NAMES[5])]["meta"];
    assert_eq!(m["direction"], "out");
    assert_eq!(m["agent"], "101");
    assert_eq!(m["phone"], "79165550006");
    assert_eq!(m["date"], "2024-11-03");
    assert_eq!(m["time"], "13:00:00");
    assert!(calls[call_index(&r, XSS_NAME)]["meta"]["agent"].is_null());

    // Summary: buckets shortest first, agents, stages, errors, metrics.
    let s = &r["summary"];
    assert_eq!(s["calls"], 10);
    assert_eq!(s["failed_inputs"], 1);
    let buckets: Vec<&str> = s["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(buckets, ["medium", "long"]);
    let agents: Vec<&str> = s["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["101", "102", "103"]);
    assert_eq!(s["calls_without_agent"], 2);
    assert_eq!(
        s["score_histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>(),
        10
    );
    assert_eq!(s["stages"].as_array().unwrap().len(), 7);
    assert!(s["errors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "stage"));
    assert!(s["metrics"]["agent_talk_share"].as_f64().unwrap() > 0.0);
    assert!(s["buckets"][0]["metrics"]["silence_share"].is_number());

    // The golden fund, and why.
    let g = r["golden"].as_array().unwrap();
    assert!(g.iter().any(|g| g["call"] == GOLDEN_CALL), "{g:?}");
    let gold = g.iter().find(|g| g["call"] == GOLDEN_CALL).unwrap();
    assert!(gold["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x.as_str().unwrap().contains("≥ the minimum 85")));
    assert_eq!(calls[call_index(&r, GOLDEN_CALL)]["golden"], true);

    // The input that failed, with its reason.
    assert!(r["failures"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("not a callqa transcript"));

    // CSV: BOM, CRLF, Cyrillic intact, one row per call.
    let csv = std::fs::read(out.join("results.csv")).unwrap();
    assert_eq!(&csv[..3], b"\xEF\xBB\xBF");
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert!(text.contains("\r\n"));
    assert!(text
        .starts_with("call,page,agent,call_id,date,time,direction,phone,bucket,duration_s,score"));
    assert!(text.contains("stage:greeting"));
    // Errors in plain language, in Cyrillic: each call's first error (the
    // stage title comes from the Russian card) is in its CSV row.
    let errors: Vec<&str> = calls
        .iter()
        .filter_map(|c| c["errors"].as_array()?.first()?.as_str())
        .collect();
    assert!(!errors.is_empty(), "some fixture calls have errors");
    for e in &errors {
        assert!(
            e.chars()
                .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap())),
            "{e}"
        );
        // CSV doubles quotes inside a field.
        assert!(
            text.contains(&e.replace('"', "\"\"")),
            "CSV has the error «{e}»"
        );
    }
    let mut rd = ::csv::Reader::from_reader(text.as_bytes());
    assert_eq!(rd.records().count(), 10);

    // No temporary files left behind; a smaller run removes the extra pages.
    assert!(files_under(&out).iter().all(|p| !p
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with(".tmp")));
    assert!(out.join("calls/call-0010.html").is_file());
    let small = tmp.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    std::fs::copy(tmp.path().join("in/golden.json"), small.join("golden.json")).unwrap();
    Command::cargo_bin("callqa")
        .unwrap()
        .args(["score", "--card", CARD, "--transcripts"])
        .arg(&small)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0);
    assert!(out.join("calls/call-0001.html").is_file());
    assert!(
        !out.join("calls/call-0002.html").exists()
            && !out.join("transcripts/call-0010.json").exists()
    );
}

#[test]
fn pages_escape_names_and_text_and_are_self_contained() {
    let tmp = tempfile::tempdir().unwrap();
    let out = score_fixture(tmp.path(), "report", &[]);
    let pages = html_pages(&out);
    assert_eq!(pages.len(), 12, "index, golden and 10 call pages");
    for (p, html) in &pages {
        let name = p.display();
        assert_eq!(
            count(html, "<script"),
            html.matches("<script>\n(function").count(),
            "{name}: only our own scripts"
        );
        assert!(count(html, "<script") <= 1, "{name}");
        assert!(
            !html.contains("alert(1)</script>")
                && !html.contains("<img")
                && !html.contains("<b>bold"),
            "{name}: markup from a call must be text"
        );
        assert!(!html.contains("<i>x"), "{name}");
        for l in links(html) {
            assert!(
                !l.contains("://") && !l.starts_with('/') && !l.starts_with("data:"),
                "{name}: link {l:?} is not relative"
            );
        }
        for bad in [
            "@import", "url(http", "<link", "<iframe", "<object", "<embed",
        ] {
            assert!(!html.contains(bad), "{name}: {bad}");
        }
    }
    let r = read_json(&out.join("results.json"));
    let page = out.join(
        r["calls"][call_index(&r, XSS_NAME)]["page"]
            .as_str()
            .unwrap(),
    );
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;.wav"),
        "the name is shown, escaped"
    );
    assert!(
        html.contains("&lt;b&gt;bold&lt;&#x2F;b&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "the markup is shown, escaped"
    );
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;.wav"));
    assert!(
        index.contains("broken &lt;i&gt;x.json"),
        "failed inputs are listed, escaped"
    );
}

#[test]
fn work_folder_is_removed_and_bad_arguments_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = score_fixture(tmp.path(), "report", &[]);
    // Transcripts wait in a hidden folder of the report while the batch runs.
    let hidden: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
    let never = tmp.path().join("never");
    Command::cargo_bin("callqa")
        .unwrap()
        .args(["score", "--card", CARD, "--out"])
        .arg(&never)
        .assert()
        .code(2);
    assert!(!never.exists(), "a usage error created the report folder");
}

#[test]
fn redact_masks_phone_numbers_in_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = score_fixture(tmp.path(), "report", &["--redact"]);
    let secrets: Vec<String> = NAMES
        .iter()
        .map(|n| n.split('-').nth(1).unwrap().to_string())
        .chain(["74959876543".into(), "123-45-67".into()])
        .collect();
    let files = files_under(&out);
    assert_eq!(
        files.len(),
        24,
        "10 pages, 10 transcripts, index, golden, JSON, CSV: {files:?}"
    );
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "{}: phone number {s} not masked",
                f.display()
            );
        }
    }
    let r = read_json(&out.join("results.json"));
    assert_eq!(r["redacted"], true);
    let c = &r["calls"][call_index(&r, "in-•••••••••01-101-20241101-090000.wav")];
    assert_eq!(c["meta"]["phone"], "•••••••••01");
    assert_eq!(c["meta"]["date"], "2024-11-01", "dates stay readable");
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("id=\"redacted-note\""));
    let xss = &r["calls"][call_index(&r, XSS_NAME)];
    let t = read_json(&out.join(xss["transcript"].as_str().unwrap()));
    assert!(
        t["segments"].to_string().contains("+• (•••) •••-••-67"),
        "a number said in the call is masked in the transcript too"
    );
}

// ------------------------------------------------------------ the browser

const CHROMIUM: &str = "/usr/bin/chromium";

/// Renders a page with headless chromium: a PNG screenshot and the DOM after
/// the page's scripts ran. One browser run per page.
fn chromium(url: &str, png: &Path) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the report's browser test needs Debian's chromium (`apt-get install -y chromium`; scripts/setup.sh installs it)"
    );
    let profile = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--dump-dom")
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start chromium");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(Duration::from_secs(240)) {
        Ok(o) => o.expect("chromium ran"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .status();
            panic!("chromium did not finish rendering {url} in 240 s");
        }
    };
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && dom.contains("</html>"),
        "chromium failed on {url}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes =
        std::fs::read(png).unwrap_or_else(|e| panic!("{}: no screenshot: {e}", png.display()));
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{}: not a PNG",
        png.display()
    );
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    assert_eq!(width, 1280, "{}: screenshot width", png.display());
    dom
}

/// The start tags of elements with this opening, e.g. `<tr class="call`.
fn tags<'a>(dom: &'a str, open: &str) -> Vec<&'a str> {
    dom.match_indices(open)
        .map(|(i, _)| &dom[i..i + dom[i..].find('>').unwrap()])
        .collect()
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    Some(&tag[i..i + tag[i..].find('"')?])
}

#[test]
fn browser_renders_index_call_and_golden_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let out = score_fixture(tmp.path(), "report", &[]);
    let r: Results = report::read_results(&out).unwrap();
    let file_url = |p: &str| {
        format!(
            "file://{}",
            std::fs::canonicalize(out.join(p)).unwrap().display()
        )
    };

    // Index, filtered and sorted from the address: the table's script ran.
    let dom = chromium(
        &(file_url("index.html") + "#bucket=medium&sort=score&dir=asc"),
        &tmp.path().join("index.png"),
    );
    assert!(dom.contains("data-ready=\"index\""), "the index script ran");
    let medium: Vec<f64> = r
        .calls
        .iter()
        .filter(|c| c.result.bucket == "medium")
        .map(|c| c.result.score)
        .collect();
    assert!(dom.contains(&format!("data-shown=\"{}\"", medium.len())));
    assert!(dom.contains(&format!("{} of 10 calls", medium.len())));
    let rows = tags(&dom, "<tr class=\"call");
    assert_eq!(rows.len(), 10);
    let visible: Vec<&&str> = rows
        .iter()
        .filter(|t| attr(t, "hidden").is_none())
        .collect();
    assert_eq!(visible.len(), medium.len());
    assert!(visible
        .iter()
        .all(|t| attr(t, "data-bucket") == Some("medium")));
    let scores: Vec<f64> = visible
        .iter()
        .map(|t| attr(t, "data-score").unwrap().parse().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] <= w[1]),
        "sorted by score: {scores:?}"
    );
    assert!(
        dom.contains("data-key=\"score\" data-type=\"num\" class=\"num\" aria-sort=\"ascending\"")
    );
    for id in [
        "distribution",
        "stage-rates",
        "buckets-table",
        "agents-table",
        "errors-table",
        "failures-table",
        "filters",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "index has #{id}");
    }
    assert_eq!(
        count(&dom, "class=\"band\""),
        10,
        "ten score bands in the chart"
    );
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;.wav"),
        "the hostile name is text"
    );
    assert!(
        !dom.contains("<script>alert") && !dom.contains("<img"),
        "no injected elements"
    );
    assert_eq!(count(&dom, "<script"), 1);

    // The hostile call's page: checklist, evidence, timeline, highlighted transcript.
    let i = r
        .calls
        .iter()
        .position(|c| c.result.call == XSS_NAME)
        .unwrap();
    let entry = &r.calls[i];
    let dom = chromium(&file_url(&entry.page), &tmp.path().join("call.png"));
    assert!(
        dom.contains("data-ready=\"call\""),
        "the call page script ran"
    );
    assert!(dom.contains("<h1 id=\"call-name\">&lt;script&gt;alert(1)&lt;/script&gt;.wav</h1>"));
    assert!(
        dom.contains("&lt;b&gt;bold&lt;/b&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "transcript markup is text"
    );
    assert!(!dom.contains("<b>bold") && !dom.contains("<img") && !dom.contains("<script>alert"));
    assert_eq!(count(&dom, "<script"), 1);
    assert_eq!(
        count(&dom, "<tr class=\"stage\""),
        entry.result.stages.len(),
        "one checklist row per stage"
    );
    let passed = entry
        .result
        .stages
        .iter()
        .filter(|s| s.outcome == callqa::score::Outcome::Passed)
        .count();
    assert_eq!(count(&dom, "data-outcome=\"passed\""), passed);
    let evidence: usize = entry.result.stages.iter().map(|s| s.evidence.len()).sum();
    assert!(
        evidence > 0 && count(&dom, "<mark class=\"ok\"") >= 1,
        "matched words are highlighted"
    );
    assert!(
        count(&dom, "class=\"ev\"") >= evidence,
        "every piece of evidence links to its second"
    );
    assert_eq!(
        count(&dom, "class=\"turn "),
        entry_segments(&out, entry),
        "one turn per segment"
    );
    assert!(dom.contains("id=\"errors\"") || dom.contains("id=\"errors-none\""));
    for id in [
        "timeline",
        "checklist",
        "metrics-table",
        "transcript",
        "no-audio",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "call page has #{id}");
    }
    assert!(
        count(&dom, "<rect class=\"agent\"") > 0 && count(&dom, "<rect class=\"customer\"") > 0,
        "who speaks when"
    );

    // The golden fund.
    let dom = chromium(&file_url("golden.html"), &tmp.path().join("golden.png"));
    assert_eq!(count(&dom, "<tr class=\"golden-call\""), r.golden.len());
    // Names are text in the DOM, so markup in a name shows escaped.
    assert!(r
        .golden
        .iter()
        .all(|g| dom.contains(&g.call.replace('<', "&lt;").replace('>', "&gt;"))));
    assert!(dom.contains("class=\"plain why\"") && dom.contains("≥ the minimum 85"));
    let g = r
        .calls
        .iter()
        .find(|c| c.result.call == GOLDEN_CALL)
        .unwrap();
    assert!(dom.contains(&format!("href=\"{}\"", g.page)));
}

fn entry_segments(out: &Path, e: &report::CallEntry) -> usize {
    read_json(&out.join(e.transcript.as_ref().unwrap()))["segments"]
        .as_array()
        .unwrap()
        .len()
}

// ------------------------------------------------------------ library level

/// Scores sample calls with their recordings (as `callqa score` on audio would).
fn sample_report(
    dir: &Path,
    names: &[&str],
    opts: &ReportOptions,
) -> (BatchResults, Vec<Transcript>) {
    let card = card::load(Path::new(CARD)).unwrap();
    let transcripts: Vec<Transcript> = names.iter().map(|n| truth_transcript(n)).collect();
    let calls: Vec<_> = transcripts.iter().map(|t| score(t, &card)).collect();
    let batch = BatchResults {
        schema: report::BATCH_SCHEMA.into(),
        tool: "callqa test".into(),
        card: calls[0].card.clone(),
        golden: golden::select(&calls, card.golden.as_ref()),
        calls,
        failures: Vec::new(),
    };
    let pages: Vec<CallPage> = batch
        .calls
        .iter()
        .zip(&transcripts)
        .map(|(r, t)| CallPage {
            call: r.call.clone(),
            transcript: TranscriptRef::Loaded(t),
            audio: Some(PathBuf::from("samples/audio").join(&r.call)),
        })
        .collect();
    let opts = ReportOptions {
        golden_rules: card.golden.clone(),
        ..opts.clone()
    };
    report::write_report_with(dir, batch.clone(), &pages, &opts).unwrap();
    (batch, transcripts)
}

/// An attribute value as the browser reads it: HTML entities, then percent-encoding.
fn percent_decode(s: &str) -> String {
    let s = s.replace("&#x2F;", "/").replace("&amp;", "&");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn audio_player_metadata_sidecar_and_golden_export() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    let names = [
        "in-79161234567-101-20241105-103000.wav",
        GOLDEN_CALL,
        "in-79857776655-101-20241106-161205.wav",
    ];
    let mut sidecar = HashMap::new();
    sidecar.insert(
        names[0].to_string(),
        CallMeta {
            agent: Some("Иванова".into()),
            ..CallMeta::default()
        },
    );
    let opts = ReportOptions {
        meta: MetaSource {
            sidecar,
            ..MetaSource::default()
        },
        ..ReportOptions::default()
    };
    sample_report(&out, &names, &opts);

    let r = report::read_results(&out).unwrap();
    for e in &r.calls {
        // The player's source resolves to the recording, relative to the page.
        let html = std::fs::read_to_string(out.join(&e.page)).unwrap();
        let src = attr(tags(&html, "<audio id=\"player\"")[0], "src").unwrap();
        let target = out.join("calls").join(percent_decode(src));
        assert_eq!(
            std::fs::canonicalize(&target)
                .unwrap_or_else(|e| panic!("{src} → {}: {e}", target.display())),
            std::fs::canonicalize(Path::new("samples/audio").join(&e.result.call)).unwrap()
        );
        assert!(
            out.join(e.audio.as_ref().unwrap()).is_file(),
            "results.json audio is relative to the report"
        );
        assert!(html.contains("data-t=\""), "evidence seeks the player");
    }
    assert_eq!(
        r.calls[0].meta.agent.as_deref(),
        Some("Иванова"),
        "the sidecar wins over the file name"
    );
    assert_eq!(
        r.calls[0].meta.phone.as_deref(),
        Some("79161234567"),
        "the file name fills the rest"
    );
    let mono = r.calls.iter().find(|c| c.result.call == names[2]).unwrap();
    assert!(mono.result.metrics.estimated);
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains(">Иванова</a>"), "per-agent table");
    let golden_html = std::fs::read_to_string(out.join("golden.html")).unwrap();
    assert!(
        golden_html.contains("id=\"rules\"")
            && golden_html.contains("excluded from the golden fund"),
        "short is excluded by the card"
    );

    // Export the golden fund as a training set.
    let set = tmp.path().join("training");
    let sum = golden::export(&out, &set).unwrap();
    assert_eq!(sum.calls, r.golden.len());
    assert!(sum.calls >= 1 && sum.audio_copied == sum.calls && sum.missing_audio.is_empty());
    let m: golden::Manifest =
        serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m.schema, golden::EXPORT_SCHEMA);
    let e = m.calls.iter().find(|c| c.call == GOLDEN_CALL).unwrap();
    assert_eq!(
        std::fs::metadata(set.join(e.audio.as_ref().unwrap()))
            .unwrap()
            .len(),
        std::fs::metadata(Path::new("samples/audio").join(GOLDEN_CALL))
            .unwrap()
            .len()
    );
    assert!(e
        .audio
        .as_ref()
        .unwrap()
        .starts_with("long/01-out-74959876543"));
    let txt = std::fs::read_to_string(set.join(e.transcript_txt.as_ref().unwrap())).unwrap();
    assert!(txt.starts_with("[0:"));
    let t: Transcript =
        serde_json::from_slice(&std::fs::read(set.join(e.transcript.as_ref().unwrap())).unwrap())
            .unwrap();
    assert_eq!(t.source.path, GOLDEN_CALL);
    assert_eq!(read_json(&set.join(&e.result))["call"], GOLDEN_CALL);
    let csv = std::fs::read(set.join("manifest.csv")).unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBFbucket,rank,call,score"));
    assert!(String::from_utf8_lossy(&csv).contains(GOLDEN_CALL));

    // Again into the same folder: replaced. Into someone else's folder: refused.
    golden::export(&out, &set).unwrap();
    assert!(std::fs::read_dir(tmp.path()).unwrap().flatten().all(|e| !e
        .file_name()
        .to_string_lossy()
        .starts_with(".callqa-golden")));
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let err = golden::export(&out, &other).unwrap_err().to_string();
    assert!(err.contains("not a golden export"), "{err}");
    assert!(other.join("keep.txt").is_file());
    let err = golden::export(&tmp.path().join("nowhere"), &tmp.path().join("x"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("results.json"), "{err}");

    // A redacted report links no recordings, so the export has none either.
    let red = tmp.path().join("redacted");
    sample_report(
        &red,
        &names,
        &ReportOptions {
            redact: true,
            ..ReportOptions::default()
        },
    );
    let html = std::fs::read_to_string(red.join("calls/call-0001.html")).unwrap();
    assert!(!html.contains("<audio") && !html.contains("79161234567"));
    let sum = golden::export(&red, &tmp.path().join("training2")).unwrap();
    assert_eq!(sum.audio_copied, 0);
    assert_eq!(sum.missing_audio.len(), sum.calls);
}

#[test]
fn golden_export_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let report = score_fixture(tmp.path(), "report", &["--audio-dir", "samples/audio"]);
    let golden = read_json(&report.join("results.json"))["golden"]
        .as_array()
        .unwrap()
        .len();
    assert!(golden >= 1, "the fixture has golden calls");
    let training = tmp.path().join("training");
    Command::cargo_bin("callqa")
        .unwrap()
        .args(["golden", "export", "--from"])
        .arg(&report)
        .arg("--out")
        .arg(&training)
        .assert()
        .success()
        .stdout(predicates::str::contains(format!(
            "exported {golden} golden call(s)"
        )));
    let manifest = read_json(&training.join("manifest.json"));
    assert_eq!(manifest["calls"].as_array().unwrap().len(), golden);
    assert!(training.join("manifest.csv").is_file());
    // A folder that is not an earlier export is never overwritten.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "mine").unwrap();
    Command::cargo_bin("callqa")
        .unwrap()
        .args(["golden", "export", "--from"])
        .arg(&report)
        .arg("--out")
        .arg(&foreign)
        .assert()
        .code(2);
    assert_eq!(
        std::fs::read_to_string(foreign.join("keep.txt")).unwrap(),
        "mine"
    );
}
