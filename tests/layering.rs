//! Imports run one way: from the edges down to the core. The core — the pure stage from raw
//! bytes to a routing decision: `pipeline`, `route`, `event`, `intent`, `identity`,
//! `normalize` — must not import the configuration that assembles it (`config`) nor any edge
//! (Kafka, Redis, HTTP, the worker, the CLI). Each config section lives with the module that
//! owns it; `config` imports the sections, never the reverse.
//!
//! A source scan, not a compile-time guarantee: every `crate::…` path outside a comment (in a
//! `use` or written inline, tests included) is checked against the list below.

use std::path::{Path, PathBuf};

/// The core: single files and whole module directories, relative to the crate root.
const CORE_FILES: &[&str] = &["src/pipeline.rs", "src/route.rs", "src/event.rs"];
const CORE_DIRS: &[&str] = &["src/intent", "src/identity", "src/normalize"];

/// What the core may not import: the assembled config, the edges, and what sits on them
/// (incident detection works on the claim store; telemetry and learn read the pipeline).
const FORBIDDEN: &[&str] = &[
    "config",
    "worker",
    "kafka",
    "claim",
    "http",
    "cli",
    "demo",
    "bench",
    "reload",
    "sla",
    "feedback",
    "replay",
    "incident",
    "telemetry",
    "learn",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `line` imports through `crate::` (`crate::a::b`, `crate::{a, b::c}`).
fn crate_modules(line: &str) -> Vec<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let code = code.split(" //").next().unwrap_or(code);
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after = &rest[at + "crate::".len()..];
        if !preceded_by_ident {
            if let Some(group) = after.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                found.extend(group.split(',').map(ident).filter(|m| !m.is_empty()));
            } else {
                found.push(ident(after));
            }
        }
        rest = after;
    }
    found
}

/// Every forbidden import in the core, as `file:line: crate::module`.
fn violations(root: &Path) -> (usize, Vec<String>) {
    let mut files: Vec<PathBuf> = CORE_FILES.iter().map(|f| root.join(f)).collect();
    for dir in CORE_DIRS {
        rust_files(&root.join(dir), &mut files);
    }
    let mut bad = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (n, line) in text.lines().enumerate() {
            for m in crate_modules(line) {
                if FORBIDDEN.contains(&m.as_str()) {
                    let rel = file.strip_prefix(root).unwrap_or(file);
                    bad.push(format!("{}:{}: crate::{m}", rel.display(), n + 1));
                }
            }
        }
    }
    (files.len(), bad)
}

#[test]
fn the_core_imports_neither_the_config_nor_the_edges() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (scanned, bad) = violations(root);
    // The layout this test knows must still be there: a rename must not make it pass vacuously.
    assert!(scanned >= 20, "only {scanned} core files found");
    assert!(
        bad.is_empty(),
        "the core imports what sits above it (move the type down, or pass the value in):\n{}",
        bad.join("\n")
    );
}

/// The scan itself finds what it is meant to find.
#[test]
fn the_scan_sees_every_form_of_import() {
    assert_eq!(
        crate_modules("use crate::config::Config;"),
        vec!["config".to_string()]
    );
    assert_eq!(
        crate_modules("    pub fn new(c: &crate::kafka::KafkaConfig) -> Self {"),
        vec!["kafka".to_string()]
    );
    assert_eq!(
        crate_modules("use crate::{event::Kind, claim::HistoryPolicy};"),
        vec!["event".to_string(), "claim".to_string()]
    );
    assert_eq!(
        crate_modules("pub(crate) use crate::{ http };"),
        vec!["http".to_string()]
    );
    assert!(crate_modules("/// see [`crate::config::Config`]").is_empty());
    assert!(crate_modules("use outcry_crate::config;").is_empty());

    // A core file that imports an edge is reported with its place.
    let dir = std::env::temp_dir().join(format!("outcry-layering-{}", std::process::id()));
    for d in CORE_DIRS {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    for f in CORE_FILES {
        std::fs::write(dir.join(f), "use crate::event::Kind;\n").unwrap();
    }
    std::fs::write(
        dir.join("src/intent/mod.rs"),
        "//! intent\nuse crate::normalize::matching_text;\nuse crate::config::HumanDuration;\n",
    )
    .unwrap();
    let (_, bad) = violations(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(bad, vec!["src/intent/mod.rs:3: crate::config".to_string()]);
}
