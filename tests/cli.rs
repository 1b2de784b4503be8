//! The `rhaithm` binary: `query` prints JSON lines; bad input exits non-zero with the
//! position on stderr.

use std::process::Command;

fn rhaithm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rhaithm")).args(args).output().expect("run rhaithm");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn query_prints_one_json_object_per_hap() {
    let (ok, out, err) = rhaithm(&["query", r#"s("bd*2 [sn cp]")"#]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], r#"{"whole":["0","1/4"],"part":["0","1/4"],"value":{"s":"bd"}}"#);
    assert_eq!(lines[3], r#"{"whole":["3/4","1"],"part":["3/4","1"],"value":{"s":"cp"}}"#);
}

#[test]
fn query_takes_fractional_spans() {
    let (ok, out, err) = rhaithm(&["query", "--from", "1/3", "--to", "2/3", r#"n("0 1 2")"#]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), r#"{"whole":["1/3","2/3"],"part":["1/3","2/3"],"value":{"n":1}}"#);
    let (ok, out, _) = rhaithm(&["query", "--from", "0.5", "--to", "1", r#"s("bd")"#]);
    assert!(ok);
    assert_eq!(out.trim(), r#"{"whole":["0","1"],"part":["1/2","1"],"value":{"s":"bd"}}"#);
}

#[test]
fn continuous_haps_have_a_null_whole() {
    let (ok, out, _) = rhaithm(&["query", "--to", "1/2", "sine"]);
    assert!(ok);
    assert_eq!(out.trim(), r#"{"whole":null,"part":["0","1/2"],"value":0.5}"#);
}

#[test]
fn bad_expressions_exit_non_zero_with_line_and_column() {
    let (ok, out, err) = rhaithm(&["query", r#"s("bd [sn")"#]);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(err.contains("1:10:"), "{err}");
    assert!(err.contains("']'"), "{err}");
    let (ok, _, err) = rhaithm(&["query", "s(\"bd\").\nfast(2"]);
    assert!(!ok);
    assert!(err.contains(":2:"), "{err}");
    let (ok, _, err) = rhaithm(&["query", "--to", "x", r#"s("bd")"#]);
    assert!(!ok);
    assert!(err.contains("--to"), "{err}");
}

#[test]
fn check_lists_tracks_and_reports_errors_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.rhai");
    std::fs::write(&good, "setbpm(120);\nd1(s(\"bd*4\"));\ntrack(\"bass\", note(\"c2 eb2\").s(\"saw\"));\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rhaithm")).arg("check").arg(&good).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 track(s)") && text.contains("d1:") && text.contains("bass:"), "{text}");

    let bad = dir.path().join("bad.rhai");
    std::fs::write(&bad, "d1(s(\"bd*4\"));\nd2(s(\"hh [sn\"));\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rhaithm")).arg("check").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.rhai:2:"), "{err}");
}

#[test]
fn render_writes_a_valid_wav_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("p.rhai");
    std::fs::write(&patch, "setcps(1);\nd1(s(\"bd sn\"));\n").unwrap();
    for (format, bits) in [("f32", 32), ("s24", 24), ("s16", 16)] {
        let out = dir.path().join(format!("{format}.wav"));
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_rhaithm"))
            .args(["render", "--cycles", "2", "--sample-rate", "44100", "--format", format, "-o"])
            .arg(&out)
            .arg(&patch)
            .status()
            .unwrap();
        assert!(status.success());
        let reader = hound::WavReader::open(&out).unwrap();
        let spec = reader.spec();
        assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 44100, bits));
        assert_eq!(reader.duration(), 88200);
    }
}
