//! End to end with the real recogniser: the converted Whisper base model
//! (`bash models/fetch-model.sh`) on the bundled sample calls and on the
//! kinds of broken file a call archive holds.

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

const MODEL: &str = "models/ggml-base.bin";

/// whisper.cpp's threads spin while they wait for each other: two
/// recognisers sharing the cores slow each other down many times over, so
/// these tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn callqa(cache: &Path) -> Command {
    assert!(
        Path::new(MODEL).is_file(),
        "{MODEL} missing: run `bash models/fetch-model.sh` (scripts/test.sh does)"
    );
    let mut c = Command::cargo_bin("callqa").unwrap();
    c.env("CALLQA_CACHE_DIR", cache).env_remove("CALLQA_MODEL");
    c
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn model_info_reports_the_pinned_model() {
    let _turn = serial();
    let dir = tmp();
    let out = callqa(dir.path())
        .args(["model", "info", MODEL])
        .assert()
        .success();
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let pinned = std::fs::read_to_string("models/ggml-base.bin.sha256").unwrap();
    assert!(s.contains(pinned.split_whitespace().next().unwrap()), "{s}");
    assert!(s.contains("tensors    245"), "{s}");
    assert!(s.contains("vocab 51865"), "{s}");
}

#[test]
fn stereo_call_transcribed_with_speakers_and_key_phrases() {
    let _turn = serial();
    let dir = tmp();
    let out = dir.path().join("out");
    let call = "samples/audio/in-79161234567-101-20241105-103000.wav";
    callqa(dir.path())
        .args(["transcribe", call, "--out"])
        .arg(&out)
        .assert()
        .success();
    let json =
        std::fs::read_to_string(out.join("samples/audio/in-79161234567-101-20241105-103000.json"))
            .unwrap();
    let t: callqa::transcript::Transcript = serde_json::from_str(&json).unwrap();
    assert_eq!(t.schema, "callqa.transcript/1");
    assert_eq!(t.source.channels, 2);
    let text_of = |who: callqa::types::Speaker| {
        callqa::text::normalise(
            &t.segments
                .iter()
                .filter(|s| s.speaker == who)
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    };
    let agent = text_of(callqa::types::Speaker::Agent);
    let customer = text_of(callqa::types::Speaker::Customer);
    assert!(agent.contains("здравствуйте"), "agent: {agent}");
    assert!(agent.contains("меня зовут"), "agent: {agent}");
    assert!(customer.contains("дорог"), "customer: {customer}");
    // Times are call times, in order, inside the call.
    assert!(t.segments.windows(2).all(|w| w[0].start.0 <= w[1].start.0));
    assert!(t
        .segments
        .iter()
        .all(|s| s.end.0 <= t.source.duration.0 + 0.5));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A minimal WAV header (fmt + data) for `format` with the given payload.
fn wav(
    format: u16,
    channels: u16,
    rate: u32,
    bits: u16,
    data: &[u8],
    declared: Option<u32>,
) -> Vec<u8> {
    let block = channels * bits.max(8) / 8;
    let mut v = Vec::new();
    v.extend(b"RIFF");
    v.extend((36 + data.len() as u32).to_le_bytes());
    v.extend(b"WAVEfmt ");
    v.extend(16u32.to_le_bytes());
    v.extend(format.to_le_bytes());
    v.extend(channels.to_le_bytes());
    v.extend(rate.to_le_bytes());
    v.extend((rate * block as u32).to_le_bytes());
    v.extend(block.to_le_bytes());
    v.extend(bits.to_le_bytes());
    v.extend(b"data");
    v.extend(declared.unwrap_or(data.len() as u32).to_le_bytes());
    v.extend(data);
    v
}

#[test]
fn broken_inputs_get_one_line_each_and_the_batch_goes_on() {
    let _turn = serial();
    let dir = tmp();
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    write(&inputs, "a-empty.wav", b"");
    write(&inputs, "b-text.wav", b"this is a note, not a recording\n");
    write(&inputs, "c-zero.wav", &wav(1, 1, 8000, 16, &[], None));
    write(
        &inputs,
        "d-gsm.wav",
        &wav(0x31, 1, 8000, 0, &[0u8; 650], None),
    );
    // Truncated: the header promises 20 s, 3 s of a real call are there.
    let real = std::fs::read("samples/audio/in-79161234567-101-20241105-103000.wav").unwrap();
    let cut = real.len().min(44 + 3 * 8000 * 4);
    write(&inputs, "e-truncated.wav", &real[..cut]);
    std::fs::copy(
        "samples/audio/in-79857776655-101-20241106-161205.wav",
        inputs.join("f-good.wav"),
    )
    .unwrap();
    write(&inputs, "notes.txt", b"skipped quietly: not audio");

    let out = dir.path().join("report");
    let a = callqa(dir.path())
        .args([
            "score",
            "--card",
            "checklists/inbound-sales-ru.yaml",
            "--out",
        ])
        .arg(&out)
        .arg(&inputs)
        .assert()
        .code(3);
    let o = a.get_output();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    for (file, why) in [
        ("a-empty.wav", "empty file"),
        ("b-text.wav", "not a recognised audio file"),
        ("c-zero.wav", "no audio"),
        ("d-gsm.wav", "unsupported"),
    ] {
        assert!(
            stderr.lines().any(|l| l.contains(file) && l.contains(why)),
            "{file}: {why}\n{stderr}"
        );
    }
    assert!(!stderr.contains("notes.txt"));
    // The truncated and the good call are scored; the report is written.
    assert!(
        stdout.contains("e-truncated.wav") && stdout.contains("f-good.wav"),
        "{stdout}"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["calls"].as_array().unwrap().len(), 2);
    assert_eq!(results["failures"].as_array().unwrap().len(), 4);
    assert!(out.join("index.html").is_file());
}

#[test]
fn truncated_file_warns_and_keeps_what_is_there() {
    let _turn = serial();
    let dir = tmp();
    let real = std::fs::read("samples/audio/in-79161234567-101-20241105-103000.wav").unwrap();
    let p = write(dir.path(), "cut.wav", &real[..real.len() / 3]);
    let a = callqa(dir.path())
        .args(["transcribe", "--format", "txt", "--out"])
        .arg(dir.path().join("t"))
        .arg(&p)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(stderr.contains("cut.wav: truncated"), "{stderr}");
}

#[test]
fn a_missing_model_is_a_clear_usage_error() {
    let _turn = serial();
    let dir = tmp();
    callqa(dir.path())
        .args([
            "transcribe",
            "--model",
            "/nonexistent/ggml.bin",
            "samples/audio",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "/nonexistent/ggml.bin: model file not found",
        ));
}

#[test]
fn an_unknown_weight_type_is_a_usage_error_naming_the_known_ones() {
    let dir = tmp();
    let out = dir.path().join("out.bin");
    Command::cargo_bin("callqa")
        .unwrap()
        .args(["model", "import", "models", "-o"])
        .arg(&out)
        .args(["--quantize", "q4"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--quantize: unknown quantisation 'q4' (expected f16, q8_0, q5_1 or iq4_nl)",
        ));
    assert!(!out.exists());
}

#[test]
fn an_over_long_recording_is_refused_before_it_is_decoded() {
    let _turn = serial();
    let dir = tmp();
    // The 5.4-minute sample stands in for a three-hour recording: the limit is
    // checked against the header before any sample is held in memory.
    callqa(dir.path())
        .args(["transcribe", "--max-duration", "5", "--out"])
        .arg(dir.path().join("t"))
        .arg("samples/audio/out-74959876543-102-20241107-100000.wav")
        .arg("samples/audio/in-79857776655-101-20241106-161205.wav")
        .assert()
        .code(3)
        .stderr(predicates::str::contains(
            "out-74959876543-102-20241107-100000.wav: recording is 0:05:24 long, over the 0:05:00 limit (raise it with --max-duration)",
        ))
        .stdout(predicates::str::contains("transcribed 1 of 2 input(s)"));
}
