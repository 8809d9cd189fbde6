//! One number everywhere: `lessons/04_uts.rs` ↔ binary `04-uts` ↔
//! `book/src/04-uts.md` ↔ its snapshots. These tests keep the four in step,
//! the way rustlings keeps its exercises, binaries and docs in sync: a
//! lesson without its binary, chapter or snapshots is unfinished.
//!
//! The exception is the last lesson, `lessons/12_runtime.rs`: its binary is
//! `nslab`, the runtime. For now it only has `nslab doctor`, which is
//! documented in `setup.md` rather than in a chapter of its own, so for 12
//! the chapter check requires that `setup.md` mentions `nslab doctor`, and
//! the snapshot check looks for the doctor's snapshots. When the runtime gets
//! its chapter, tighten this.

use regex::Regex;
use std::fs;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A lesson source file: `lessons/NN_name.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lesson {
    /// `02`
    number: String,
    /// `pid`, `init_layer`
    name: String,
}

impl Lesson {
    /// Parses a file name like `02_pid.rs`; anything else is not a lesson.
    fn from_file_name(file_name: &str) -> Option<Lesson> {
        let re = Regex::new(r"^(\d\d)_([a-z0-9]+(?:_[a-z0-9]+)*)\.rs$").unwrap();
        let c = re.captures(file_name)?;
        Some(Lesson {
            number: c[1].to_string(),
            name: c[2].to_string(),
        })
    }

    /// `lessons/02_pid.rs`
    fn path(&self) -> String {
        format!("lessons/{}_{}.rs", self.number, self.name)
    }

    /// True for the last lesson, whose binary is the runtime itself.
    fn is_runtime(&self) -> bool {
        self.number == "12" && self.name == "runtime"
    }

    /// `02-pid`, `10-init-layer`; the runtime's is `nslab`.
    fn binary(&self) -> String {
        if self.is_runtime() {
            "nslab".to_string()
        } else {
            format!("{}-{}", self.number, self.name.replace('_', "-"))
        }
    }

    /// The book chapter, `02-pid.md` (same as the binary name).
    fn chapter(&self) -> String {
        format!("{}-{}.md", self.number, self.name.replace('_', "-"))
    }

    /// What a snapshot file name must contain to belong to this lesson:
    /// `02_pid` (as in `lesson_02_pid__demo.snap`) or `02-pid`; for the
    /// runtime, `doctor`.
    fn snapshot_markers(&self) -> Vec<String> {
        if self.is_runtime() {
            vec!["doctor".to_string()]
        } else {
            vec![
                format!("{}_{}", self.number, self.name),
                format!("{}-{}", self.number, self.name.replace('_', "-")),
            ]
        }
    }
}

fn lessons() -> Vec<Lesson> {
    let dir = repo().join("lessons");
    let mut lessons: Vec<Lesson> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| Lesson::from_file_name(&e.file_name().to_string_lossy()))
        .collect();
    lessons.sort_by(|a, b| a.number.cmp(&b.number));
    assert!(!lessons.is_empty(), "no lessons/NN_name.rs files found");
    lessons
}

/// The `[[bin]]` targets of a Cargo.toml text, as (name, path) pairs.
///
/// A small parser for the one shape this manifest uses (one `key = "value"`
/// per line), so the test needs no TOML crate.
fn bins(manifest: &str) -> Vec<(Option<String>, Option<String>)> {
    let key_value = Regex::new(r#"^\s*(name|path)\s*=\s*"([^"]*)"\s*(?:#.*)?$"#).unwrap();
    let mut bins = Vec::new();
    let mut current: Option<(Option<String>, Option<String>)> = None;
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if let Some(bin) = current.take() {
                bins.push(bin);
            }
            if trimmed == "[[bin]]" {
                current = Some((None, None));
            }
            continue;
        }
        if let (Some(bin), Some(c)) = (current.as_mut(), key_value.captures(line)) {
            let value = Some(c[2].to_string());
            match &c[1] {
                "name" => bin.0 = value,
                _ => bin.1 = value,
            }
        }
    }
    if let Some(bin) = current.take() {
        bins.push(bin);
    }
    bins
}

fn manifest_bins() -> Vec<(Option<String>, Option<String>)> {
    let manifest = fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    bins(&manifest)
}

#[track_caller]
fn fail_with(problems: Vec<String>, what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn every_lesson_has_its_binary() {
    let bins = manifest_bins();
    let mut problems = Vec::new();
    for lesson in lessons() {
        let (want_name, want_path) = (lesson.binary(), lesson.path());
        match bins.iter().find(|(_, path)| path.as_deref() == Some(want_path.as_str())) {
            None => problems.push(format!(
                "{want_path}: no [[bin]] in Cargo.toml with path = \"{want_path}\" (name = \"{want_name}\")"
            )),
            Some((name, _)) if name.as_deref() != Some(want_name.as_str()) => problems.push(format!(
                "{want_path}: its [[bin]] is named {name:?}, expected \"{want_name}\""
            )),
            Some(_) => {}
        }
    }
    fail_with(problems, "lessons without a matching binary");
}

#[test]
fn every_binary_is_a_lesson() {
    let mut problems = Vec::new();
    for (name, path) in manifest_bins() {
        let Some(path) = path else {
            problems.push(format!("[[bin]] {name:?} has no explicit path"));
            continue;
        };
        let lesson = path
            .strip_prefix("lessons/")
            .and_then(Lesson::from_file_name);
        match lesson {
            None => problems.push(format!(
                "[[bin]] {name:?}: {path} is not a lessons/NN_name.rs file"
            )),
            Some(_) if !repo().join(&path).is_file() => {
                problems.push(format!("[[bin]] {name:?}: {path} does not exist"))
            }
            Some(_) => {}
        }
    }
    fail_with(problems, "binaries that are not lessons");
}

#[test]
fn every_lesson_has_its_chapter() {
    let src = repo().join("book/src");
    let summary = fs::read_to_string(src.join("SUMMARY.md")).expect("book/src/SUMMARY.md");
    let mut problems = Vec::new();
    for lesson in lessons() {
        if lesson.is_runtime() {
            // Lesson 12 is only `nslab doctor` and `cleanup` so far, described in the setup
            // chapter; it gets a chapter of its own when the runtime grows.
            let setup = fs::read_to_string(src.join("setup.md")).unwrap_or_default();
            if !setup.contains("nslab doctor") {
                problems.push(format!(
                    "{}: book/src/setup.md does not mention `nslab doctor`",
                    lesson.path()
                ));
            }
            continue;
        }
        let chapter = lesson.chapter();
        if !src.join(&chapter).is_file() {
            problems.push(format!("{}: no chapter book/src/{chapter}", lesson.path()));
        }
        if !summary.contains(&format!("]({chapter})")) {
            problems.push(format!(
                "{}: SUMMARY.md does not list ({chapter})",
                lesson.path()
            ));
        }
    }
    fail_with(problems, "lessons without a chapter");
}

#[test]
fn every_lesson_has_snapshots() {
    let dir = repo().join("tests/snapshots");
    let names: Vec<String> = fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // Pending snapshots are not snapshots yet.
                .filter(|n| n.ends_with(".snap"))
                .collect()
        })
        .unwrap_or_default();
    let mut problems = Vec::new();
    for lesson in lessons() {
        let markers = lesson.snapshot_markers();
        if !names
            .iter()
            .any(|n| markers.iter().any(|m| n.contains(m.as_str())))
        {
            problems.push(format!(
                "{} ({}): no tests/snapshots/*.snap whose name contains {}",
                lesson.path(),
                lesson.binary(),
                markers.join(" or ")
            ));
        }
    }
    fail_with(problems, "lessons without snapshots");
}

#[test]
fn names_follow_the_numbering() {
    let pid = Lesson::from_file_name("02_pid.rs").unwrap();
    assert_eq!(
        (pid.path(), pid.binary(), pid.chapter()),
        (
            "lessons/02_pid.rs".to_string(),
            "02-pid".to_string(),
            "02-pid.md".to_string()
        )
    );
    let init = Lesson::from_file_name("10_init_layer.rs").unwrap();
    assert_eq!(init.binary(), "10-init-layer");
    assert!(init
        .snapshot_markers()
        .contains(&"10_init_layer".to_string()));
    let runtime = Lesson::from_file_name("12_runtime.rs").unwrap();
    assert_eq!(runtime.binary(), "nslab");
    assert_eq!(runtime.snapshot_markers(), vec!["doctor".to_string()]);
    for not_a_lesson in [
        "mod.rs",
        "2_pid.rs",
        "02-pid.rs",
        "02_pid.rs.orig",
        "02_.rs",
    ] {
        assert_eq!(Lesson::from_file_name(not_a_lesson), None, "{not_a_lesson}");
    }
}

#[test]
fn bins_are_parsed_from_the_manifest() {
    let manifest = r#"
[package]
name = "nslab"

[[bin]]
name = "00-process"
path = "lessons/00_process.rs"

[[bin]]
path = "lessons/01_chroot.rs"  # a comment
name = "01-chroot"

[dependencies]
name = "not-a-bin"
"#;
    assert_eq!(
        bins(manifest),
        vec![
            (
                Some("00-process".into()),
                Some("lessons/00_process.rs".into())
            ),
            (
                Some("01-chroot".into()),
                Some("lessons/01_chroot.rs".into())
            ),
        ]
    );
}

/// The lesson manifest (src/manifest.rs), which the root check, `--help`
/// and `nslab doctor` read, lists exactly the lessons in `lessons/`, each
/// with its source, binary and chapter.
#[test]
fn the_manifest_lists_every_lesson() {
    let mut problems = Vec::new();
    let files: Vec<Lesson> = lessons().into_iter().filter(|l| !l.is_runtime()).collect();
    for lesson in &files {
        match nslab::manifest::LESSONS
            .iter()
            .find(|m| m.binary == lesson.binary())
        {
            None => problems.push(format!("{}: not in src/manifest.rs", lesson.path())),
            Some(entry) => {
                if entry.source() != lesson.path() {
                    problems.push(format!(
                        "{}: the manifest says {}",
                        lesson.path(),
                        entry.source()
                    ));
                }
                if entry.number != lesson.number {
                    problems.push(format!(
                        "{}: the manifest numbers it {}",
                        lesson.path(),
                        entry.number
                    ));
                }
                if !repo().join(entry.chapter()).is_file() {
                    problems.push(format!("{}: no chapter {}", lesson.path(), entry.chapter()));
                }
            }
        }
    }
    for entry in nslab::manifest::LESSONS {
        if !files.iter().any(|l| l.binary() == entry.binary) {
            problems.push(format!(
                "the manifest lists {}, which has no lessons/ file",
                entry.binary
            ));
        }
    }
    fail_with(problems, "the manifest and lessons/ disagree");
}
