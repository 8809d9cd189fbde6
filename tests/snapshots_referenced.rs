//! Every committed snapshot belongs to a test that still exists.
//!
//! insta names a snapshot `<test file>__<name>.snap`, where the name is the
//! test function's or the one given to the assertion. A snapshot whose test
//! was renamed or removed would otherwise linger as a claim nothing checks.
//! (cargo-insta's `--unreferenced=reject` does this too; this keeps CI from
//! having to build cargo-insta.)

use std::fs;
use std::path::Path;

/// The problems with the snapshots in `dir` against the tests in `tests`.
fn unreferenced(dir: &Path, tests: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.ends_with(".snap.new") || file.ends_with(".pending-snap") {
            problems.push(format!("{file}: an unreviewed pending snapshot"));
            continue;
        }
        let Some(stem) = file.strip_suffix(".snap") else {
            continue;
        };
        let Some((test_file, name)) = stem.split_once("__") else {
            problems.push(format!("{file}: not named <test file>__<name>.snap"));
            continue;
        };
        let source = fs::read_to_string(tests.join(format!("{test_file}.rs"))).unwrap_or_default();
        let referenced =
            source.contains(&format!("fn {name}(")) || source.contains(&format!("\"{name}\""));
        if !referenced {
            problems.push(format!(
                "{file}: no test in tests/{test_file}.rs produces it"
            ));
        }
    }
    problems
}

#[test]
fn every_snapshot_has_its_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let problems = unreferenced(&root.join("tests/snapshots"), &root.join("tests"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_finds_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("snapshots")).unwrap();
    fs::write(dir.path().join("snapshots/lesson_x__gone.snap"), "").unwrap();
    fs::write(dir.path().join("snapshots/lesson_x__here.snap"), "").unwrap();
    fs::write(dir.path().join("lesson_x.rs"), "#[test]\nfn here() {}\n").unwrap();
    let problems = unreferenced(&dir.path().join("snapshots"), dir.path());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("lesson_x__gone.snap"));
}
