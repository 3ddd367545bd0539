//! The documentation against the code: every environment variable the service reads is
//! in docs/configuration.md, and everything documented there is read by something.

use std::collections::BTreeSet;
use std::path::Path;

/// Upper-case string literals in the code that are not environment variables read at
/// run time.
const NOT_SETTINGS: [&str; 4] = [
    "CARGO_MANIFEST_DIR", // env!(): fixed at build time
    "CARGO_PKG_VERSION",  // env!(): fixed at build time
    "CLK_TCK",            // an argument of getconf in the benchmark
    "ENABLE_QPSG",        // a SQLite compile option a unit test looks for
];

fn rust_files(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(std::fs::read_to_string(&path).expect("readable file"));
        }
    }
}

fn is_variable_name(word: &str) -> bool {
    word.contains('_')
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Every `"UPPER_CASE"` string literal in `text`.
fn upper_case_literals(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|word| is_variable_name(word))
        .map(str::to_owned)
        .collect()
}

/// The variables in the first column of docs/configuration.md's tables.
fn documented(configuration: &str) -> BTreeSet<String> {
    configuration
        .lines()
        .filter_map(|line| line.strip_prefix('|')?.split('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|word| is_variable_name(word))
        .map(str::to_owned)
        .collect()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_environment_variable_the_code_reads_is_in_configuration_md_and_nothing_else() {
    let configuration = std::fs::read_to_string(root().join("docs/configuration.md"))
        .expect("docs/configuration.md");
    let documented = documented(&configuration);

    // The product, and the crates beside it (the emulator's command line reads its own).
    let mut sources = Vec::new();
    rust_files(&root().join("src"), &mut sources);
    rust_files(&root().join("crates"), &mut sources);
    let read: BTreeSet<String> = sources
        .iter()
        .flat_map(|text| upper_case_literals(text))
        .filter(|name| !NOT_SETTINGS.contains(&name.as_str()))
        .collect();
    let undocumented: Vec<&String> = read.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "read by src/ or crates/ but not in docs/configuration.md: {undocumented:?}"
    );

    // The test suite's own variables are documented too; what is documented must be read
    // by the service, its tests or scripts/test.
    rust_files(&root().join("tests"), &mut sources);
    sources.push(std::fs::read_to_string(root().join("scripts/test")).expect("scripts/test"));
    let stale: Vec<&String> = documented
        .iter()
        .filter(|name| !sources.iter().any(|text| text.contains(name.as_str())))
        .collect();
    assert!(
        stale.is_empty(),
        "in docs/configuration.md but read by nothing: {stale:?}"
    );
}
