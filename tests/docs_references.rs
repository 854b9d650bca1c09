//! Every reference in the repository resolves inside it: a citation of a Markdown file and a
//! section (the file's name, then the heading in double quotes) in the code, tests, scripts
//! and docs names a file that exists and a heading it has, and every test a doc under
//! `docs/` names as checking a value exists.

use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Files whose text is searched: sources, scripts and Markdown, outside `target/`.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "corpus" {
                files_under(&path, out);
            }
        } else if [".rs", ".md", ".py", ".sh", ".1"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            out.push(path);
        }
    }
}

fn searched_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["src", "tests", "contrib", "fuzz", "docs", "man"] {
        files_under(&Path::new(ROOT).join(dir), &mut files);
    }
    for top in ["README.md", "HACKING.md", "RELIABILITY.md", "BENCHMARKS.md"] {
        files.push(Path::new(ROOT).join(top));
    }
    files
}

/// `(cited file, section)` for every Markdown file name followed by a quoted heading (with
/// or without a comma between them) in `text`.
fn citations(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices(".md") {
        let rest = &text[at + 3..];
        let rest = rest.strip_prefix(',').unwrap_or(rest);
        let Some(quoted) = rest.strip_prefix(" \"") else {
            continue;
        };
        let Some(end) = quoted.find('"') else {
            continue;
        };
        let start = text[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "_-./".contains(c)))
            .map_or(0, |i| i + 1);
        found.push((
            format!("{}.md", &text[start..at]),
            unwrap_comment(&quoted[..end]),
        ));
    }
    found
}

/// A section name as one line, when a comment wrapped it: comment markers and line breaks
/// become single spaces.
fn unwrap_comment(section: &str) -> String {
    section
        .lines()
        .map(|line| line.trim().trim_start_matches(['/', '!', '#']).trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The files a citation may mean: beside the citing file, or from the repository root.
fn candidates(cited: &str, citing: &Path) -> Vec<PathBuf> {
    let beside = citing.parent().map(|dir| dir.join(cited));
    beside
        .into_iter()
        .chain([Path::new(ROOT).join(cited)])
        .filter(|path| path.is_file())
        .collect()
}

/// True if `doc` has a heading `section`, possibly followed by a qualifier in parentheses.
fn has_heading(doc: &str, section: &str) -> bool {
    doc.lines()
        .filter(|line| line.starts_with('#'))
        .filter_map(|line| line.trim_start_matches('#').strip_prefix(' '))
        .map(str::trim)
        .any(|heading| {
            heading == section
                || heading
                    .strip_prefix(section)
                    .is_some_and(|rest| rest.starts_with(" ("))
        })
}

#[test]
fn every_cited_section_exists() {
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in searched_files() {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (cited, section) in citations(&text) {
            checked += 1;
            let ok = candidates(&cited, &file)
                .iter()
                .any(|doc| fs::read_to_string(doc).is_ok_and(|text| has_heading(&text, &section)));
            if !ok {
                broken.push(format!("{}: {cited} \"{section}\"", file.display()));
            }
        }
    }
    assert!(
        checked >= 100,
        "only {checked} citations found: the scan is broken"
    );
    assert!(
        broken.is_empty(),
        "unresolved citations:\n{}",
        broken.join("\n")
    );
}

/// Backticked names in `text` that look like test functions (lowercase, at least two `_`),
/// with any `file.rs::` prefix removed.
fn test_names(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|token| token.rsplit("::").next().unwrap_or(token))
        .filter(|name| {
            name.matches('_').count() >= 2
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_test_named_in_docs_exists() {
    let mut code = String::new();
    for file in searched_files() {
        if file.extension().is_some_and(|e| e == "rs") {
            code.push_str(&fs::read_to_string(&file).unwrap_or_default());
        }
    }
    let mut named = 0;
    let mut missing = Vec::new();
    for doc in fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .flatten()
    {
        let text = fs::read_to_string(doc.path()).expect("read doc");
        for name in test_names(&text) {
            named += 1;
            if !code.contains(&format!("fn {name}(")) {
                missing.push(format!("{}: {name}", doc.path().display()));
            }
        }
    }
    assert!(
        named >= 40,
        "only {named} test names found: the scan is broken"
    );
    assert!(
        missing.is_empty(),
        "tests named in docs/ but not found:\n{}",
        missing.join("\n")
    );
}

/// Documents and places that exist only outside the repository: a reader cannot follow a
/// citation of them (the facts they hold belong in `docs/`). Written in two halves so that
/// a search of the repository for them does not find this list.
const OUTSIDE: &[[&str; 2]] = &[
    ["i2pd-", "reference"],
    ["i2cp-", "verified"],
    ["shared/", "reference"],
    ["/wo", "rk/"],
    ["style", ".md"],
    ["ecosystem", ".md"],
];

#[test]
fn nothing_cites_documents_outside_the_repository() {
    let outside: Vec<String> = OUTSIDE.iter().map(|halves| halves.concat()).collect();
    let mut hits = Vec::new();
    for file in searched_files() {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(word) = outside.iter().find(|word| line.contains(word.as_str())) {
                hits.push(format!("{}:{}: {word}", file.display(), n + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "citations of outside documents:\n{}",
        hits.join("\n")
    );
}
