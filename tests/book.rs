//! The book includes real code by anchor; these tests keep those includes honest.
//!
//! mdBook resolves `{{#include ../../lessons/02_pid.rs:run}}` at build time,
//! and when the file has no `ANCHOR: run` it silently includes *nothing*: the
//! chapter renders with an empty listing and the build still succeeds. So
//! every include in `book/src/*.md` is checked here:
//!
//! - the included file exists;
//! - an anchor has exactly one `ANCHOR: name` line and an `ANCHOR_END: name`
//!   line after it;
//! - what would be included is not empty or only whitespace;
//! - a Rust listing that includes a `.rs` file is marked `ignore` or
//!   `noplayground` (`mdbook test` cannot link this crate's dependencies).
//!
//! The book's structure is checked too: every chapter in `SUMMARY.md`
//! exists, every chapter file is in `SUMMARY.md`, and every link from one
//! chapter to a heading of another (`setup.md#the-root-filesystem`) names a
//! heading that exists (`mdbook-linkcheck2` checks the files, not the
//! headings).
//!
//! None of this needs the mdBook tools installed; `scripts/book.sh` builds
//! the book itself.

use regex::Regex;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src")
}

/// The chapters: every `*.md` file directly in `book/src`, sorted.
fn chapter_files(src: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(src)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    files
}

/// One `{{#include …}}` or `{{#rustdoc_include …}}` found in a chapter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Include {
    /// The chapter it is in, and the line (1-based), for messages.
    chapter: PathBuf,
    line: usize,
    /// The path as written, relative to the chapter's directory.
    path: String,
    /// What follows the path, if anything: an anchor name or a line range.
    selector: Option<String>,
    /// The info string of the fenced code block around it, if any.
    fence_info: Option<String>,
}

/// Finds every include in `text` (the contents of `chapter`).
///
/// Escaped includes (`\{{#include …}}`, which mdBook prints literally) are
/// skipped, as are includes inside a fence of four backticks or more used to
/// show mdBook syntax itself.
fn find_includes(chapter: &Path, text: &str) -> Vec<Include> {
    let include = Regex::new(r"(\\?)\{\{#(?:include|rustdoc_include)\s+([^}\s]+)\s*\}\}").unwrap();
    let mut found = Vec::new();
    let mut fence: Option<(usize, String)> = None; // (backtick count, info string)
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let ticks = trimmed.chars().take_while(|&c| c == '`').count();
        if ticks >= 3 {
            match &fence {
                None => {
                    fence = Some((ticks, trimmed[ticks..].trim().to_string()));
                    continue;
                }
                Some((open, _)) if ticks >= *open && trimmed[ticks..].trim().is_empty() => {
                    fence = None;
                    continue;
                }
                _ => {}
            }
        }
        if matches!(&fence, Some((open, _)) if *open > 3) {
            continue;
        }
        for capture in include.captures_iter(line) {
            if !capture[1].is_empty() {
                continue;
            }
            let argument = &capture[2];
            let (path, selector) = match argument.split_once(':') {
                Some((path, rest)) if !rest.is_empty() => (path, Some(rest.to_string())),
                Some((path, _)) => (path, None),
                None => (argument, None),
            };
            found.push(Include {
                chapter: chapter.to_path_buf(),
                line: index + 1,
                path: path.to_string(),
                selector,
                fence_info: fence.as_ref().map(|(_, info)| info.clone()),
            });
        }
    }
    found
}

/// True for mdBook's line-range selectors: `5`, `5:10`, `:10`, `5:`.
fn is_line_range(selector: &str) -> bool {
    !selector.is_empty()
        && selector
            .split(':')
            .all(|part| part.is_empty() || part.chars().all(|c| c.is_ascii_digit()))
}

/// The lines mdBook would include for `anchor` from `source`, or why not.
///
/// Mirrors mdBook: the region starts after the line with `ANCHOR: name` and
/// ends before the line with `ANCHOR_END: name`; lines holding any other
/// anchor marker are dropped from it.
fn anchored_region(source: &str, anchor: &str) -> Result<String, String> {
    let marker = Regex::new(r"ANCHOR(_END)?:\s*([\w-]+)").unwrap();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for (index, line) in source.lines().enumerate() {
        for capture in marker.captures_iter(line) {
            if &capture[2] == anchor {
                if capture.get(1).is_some() {
                    ends.push(index);
                } else {
                    starts.push(index);
                }
            }
        }
    }
    let start = match starts.as_slice() {
        [] => return Err(format!("no `ANCHOR: {anchor}` line")),
        [one] => *one,
        _ => return Err(format!("`ANCHOR: {anchor}` appears {} times", starts.len())),
    };
    let Some(&end) = ends.iter().find(|&&end| end > start) else {
        return Err(format!(
            "no `ANCHOR_END: {anchor}` line after `ANCHOR: {anchor}`"
        ));
    };
    Ok(source
        .lines()
        .skip(start + 1)
        .take(end - start - 1)
        .filter(|line| !marker.is_match(line))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Everything wrong with one include, as messages (empty when it is fine).
fn check_include(include: &Include) -> Vec<String> {
    let at = format!("{}:{}", include.chapter.display(), include.line);
    let base = include.chapter.parent().unwrap_or(Path::new("."));
    let file = base.join(&include.path);
    let mut problems = Vec::new();
    if include.path.ends_with(".rs") {
        if let Some(info) = &include.fence_info {
            let words: Vec<&str> = info.split([',', ' ']).collect();
            if words.first() == Some(&"rust")
                && !words.iter().any(|w| *w == "ignore" || *w == "noplayground")
            {
                problems.push(format!(
                    "{at}: `{}` is included in a ```{info} block; mark it ```rust,ignore",
                    include.path
                ));
            }
        }
    }
    let source = match fs::read_to_string(&file) {
        Ok(source) => source,
        Err(e) => {
            problems.push(format!("{at}: cannot read {} ({e})", include.path));
            return problems;
        }
    };
    let (what, region) = match include.selector.as_deref() {
        None => ("the file".to_string(), source),
        Some(range) if is_line_range(range) => {
            // Line ranges are legal, but they break silently when the file
            // changes; the book uses anchors.
            problems.push(format!(
                "{at}: `{}:{range}` includes by line numbers; add an ANCHOR to the source instead",
                include.path
            ));
            return problems;
        }
        Some(anchor) => match anchored_region(&source, anchor) {
            Ok(region) => (format!("anchor `{anchor}`"), region),
            Err(why) => {
                problems.push(format!("{at}: {}: {why}", include.path));
                return problems;
            }
        },
    };
    if region.trim().is_empty() {
        problems.push(format!(
            "{at}: {what} of {} is empty: mdBook would include nothing",
            include.path
        ));
    }
    problems
}

/// Checks every include of every chapter in `src`; returns all problems and
/// how many includes were checked.
fn check_book_includes(src: &Path) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut count = 0;
    for chapter in chapter_files(src) {
        let text = fs::read_to_string(&chapter).unwrap();
        for include in find_includes(&chapter, &text) {
            count += 1;
            problems.extend(check_include(&include));
        }
    }
    (problems, count)
}

#[test]
fn every_include_names_a_file_and_a_non_empty_anchor() {
    let (problems, count) = check_book_includes(&book_src());
    assert!(
        problems.is_empty(),
        "{} broken include(s) in the book:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(count > 0, "found no includes at all: is the parser broken?");
}

/// The chapter paths `SUMMARY.md` links to, in order (drafts, written as
/// `[Title]()`, have none and are skipped).
fn summary_chapters(summary: &str) -> Vec<String> {
    let link = Regex::new(r"\[[^\]]*\]\(([^)\s]+)\)").unwrap();
    link.captures_iter(summary)
        .map(|c| c[1].to_string())
        .filter(|target| !target.contains("://"))
        .map(|target| target.split('#').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn every_chapter_in_the_summary_exists() {
    let src = book_src();
    let summary = fs::read_to_string(src.join("SUMMARY.md")).expect("book/src/SUMMARY.md");
    let chapters = summary_chapters(&summary);
    assert!(
        chapters.len() >= 2,
        "SUMMARY.md lists no chapters: {chapters:?}"
    );
    let missing: Vec<&String> = chapters.iter().filter(|c| !src.join(c).is_file()).collect();
    assert!(
        missing.is_empty(),
        "SUMMARY.md lists chapters that do not exist in book/src: {missing:?}"
    );
}

#[test]
fn every_chapter_file_is_in_the_summary() {
    let src = book_src();
    let summary = fs::read_to_string(src.join("SUMMARY.md")).expect("book/src/SUMMARY.md");
    let listed: BTreeSet<String> = summary_chapters(&summary).into_iter().collect();
    let unlisted: Vec<String> = chapter_files(&src)
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|name| name != "SUMMARY.md" && !listed.contains(name))
        .collect();
    assert!(
        unlisted.is_empty(),
        "chapters that SUMMARY.md does not list (mdBook would never render them): {unlisted:?}"
    );
}

/// The heading IDs mdBook 0.5 gives a chapter: lower-cased text, spaces as
/// `-`, other punctuation dropped (`## 01 · chroot: a different \`/\`` becomes
/// `01--chroot-a-different-`), or an explicit `{#id}`; plus any `id="…"` in
/// raw HTML.
fn heading_ids(markdown: &str) -> BTreeSet<String> {
    let explicit = Regex::new(r"\{#([\w-]+)[^}]*\}\s*$").unwrap();
    let html_id = Regex::new(r#"\bid="([^"]+)""#).unwrap();
    let mut ids = BTreeSet::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        for capture in html_id.captures_iter(line) {
            ids.insert(capture[1].to_string());
        }
        let Some(text) = line.strip_prefix('#') else {
            continue;
        };
        let text = text.trim_start_matches('#');
        if !text.starts_with(' ') {
            continue;
        }
        if let Some(capture) = explicit.captures(text) {
            ids.insert(capture[1].to_string());
            continue;
        }
        let id: String = text
            .trim()
            .chars()
            .filter_map(|c| match c {
                c if c.is_alphanumeric() => Some(c.to_lowercase().collect::<String>()),
                '-' | '_' => Some(c.to_string()),
                c if c.is_whitespace() => Some("-".to_string()),
                _ => None,
            })
            .collect();
        ids.insert(id);
    }
    ids
}

/// Links in `markdown` outside code: `(target)` of `[text](target)`.
fn links(markdown: &str) -> Vec<String> {
    let link = Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let inline_code = Regex::new(r"`[^`]*`").unwrap();
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let line = inline_code.replace_all(line, "");
        found.extend(link.captures_iter(&line).map(|c| c[1].to_string()));
    }
    found
}

#[test]
fn links_to_headings_name_headings_that_exist() {
    let src = book_src();
    let mut problems = Vec::new();
    for chapter in chapter_files(&src) {
        let text = fs::read_to_string(&chapter).unwrap();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let Some((file, fragment)) = target.split_once('#') else {
                continue;
            };
            let linked = if file.is_empty() {
                chapter.clone()
            } else {
                src.join(file)
            };
            if linked.extension().map_or(true, |x| x != "md") {
                continue;
            }
            // A missing file is the other tests' (and linkcheck2's) business.
            let Ok(linked_text) = fs::read_to_string(&linked) else {
                continue;
            };
            if !heading_ids(&linked_text).contains(fragment) {
                problems.push(format!(
                    "{}: link to `{target}`: {} has no heading with that ID",
                    chapter.display(),
                    linked.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// The checker itself must be able to fail: run it on a fake book whose
// includes are broken in every way it knows about.
#[test]
fn the_checker_catches_broken_includes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("book/src");
    let code = dir.path().join("lessons");
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&code).unwrap();
    fs::write(
        code.join("demo.rs"),
        "// ANCHOR: good\nfn good() {}\n// ANCHOR_END: good\n\
         // ANCHOR: empty\n// ANCHOR_END: empty\n\
         // ANCHOR: blank\n   \n\n// ANCHOR_END: blank\n\
         // ANCHOR: unterminated\nfn f() {}\n\
         // ANCHOR: twice\nfn a() {}\n// ANCHOR_END: twice\n// ANCHOR: twice\n// ANCHOR_END: twice\n\
         // ANCHOR: outer\n// ANCHOR: inner\n// ANCHOR_END: inner\n// ANCHOR_END: outer\n",
    )
    .unwrap();
    fs::write(code.join("empty.rs"), "\n  \n").unwrap();
    let chapter = "\
```rust,ignore
{{#include ../../lessons/demo.rs:good}}
```
```rust,ignore
{{#include ../../lessons/demo.rs:empty}}
{{#include ../../lessons/demo.rs:blank}}
{{#include ../../lessons/demo.rs:missing}}
{{#include ../../lessons/demo.rs:unterminated}}
{{#include ../../lessons/demo.rs:twice}}
{{#include ../../lessons/demo.rs:outer}}
{{#include ../../lessons/nope.rs:good}}
{{#include ../../lessons/empty.rs}}
{{#rustdoc_include ../../lessons/demo.rs:missing}}
{{#include ../../lessons/demo.rs:3:5}}
```
```rust
{{#include ../../lessons/demo.rs:good}}
```
Escaped, printed literally: \\{{#include ../../lessons/nope.rs}}
````md
Showing the syntax: {{#include ../../lessons/nope.rs}}
````
";
    fs::write(src.join("chapter.md"), chapter).unwrap();

    let (problems, count) = check_book_includes(&src);
    assert_eq!(count, 12, "includes found: {problems:#?}");
    let expect = [
        "anchor `empty` of ../../lessons/demo.rs is empty",
        "anchor `blank` of ../../lessons/demo.rs is empty",
        "no `ANCHOR: missing` line",
        "no `ANCHOR_END: unterminated` line",
        "`ANCHOR: twice` appears 2 times",
        "anchor `outer` of ../../lessons/demo.rs is empty",
        "cannot read ../../lessons/nope.rs",
        "the file of ../../lessons/empty.rs is empty",
        "includes by line numbers",
        "mark it ```rust,ignore",
    ];
    for text in expect {
        assert!(
            problems.iter().any(|p| p.contains(text)),
            "expected a problem containing {text:?}, got:\n{}",
            problems.join("\n")
        );
    }
    // `missing` twice (include and rustdoc_include), one each for the rest.
    assert_eq!(problems.len(), expect.len() + 1, "{}", problems.join("\n"));
    assert!(
        !problems.iter().any(|p| p.contains(":2:")),
        "the good include was flagged: {problems:#?}"
    );
}

#[test]
fn heading_ids_follow_mdbook() {
    let ids = heading_ids(
        "# 01 · chroot: a different `/`\n## Check your machine: `nslab doctor`\n\
         ```sh\n# not a heading\n```\n### Custom {#my-id}\n<a id=\"raw\"></a>\n#nope\n",
    );
    let expected: BTreeSet<String> = [
        "01--chroot-a-different-",
        "check-your-machine-nslab-doctor",
        "my-id",
        "raw",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(ids, expected);
}

#[test]
fn summary_links_are_parsed() {
    let summary = "# Summary\n\n[Introduction](introduction.md)\n\n- [00 · A process](00-process.md)\n- [Draft]()\n";
    assert_eq!(
        summary_chapters(summary),
        vec!["introduction.md", "00-process.md"]
    );
}
