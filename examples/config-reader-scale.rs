//! Times the config reader on large files, to show that reading grows
//! linearly with the file (it was quadratic: 10,000 keys took seconds and
//! 100,000 some ten minutes). Prints a table for docs/performance.md.
//!
//! `cargo run --release --example config-reader-scale [N]` (N = 100000).
//! The test `large_files_are_read_in_linear_time` in tests/hardening_files.rs
//! holds the same property through the real binary.

use bedrock_private::config::document::Document;
use bedrock_private::config::keys::KeyOptions;
use bedrock_private::config::sealed;
use std::time::{Duration, Instant};

const HEAD: &str = "[default]\nGetCredentialsFrom = 0\nRegion = us-west-2\n";

/// `n` aliases in `[models]`, `n` sections of one key each, `n` unknown
/// keys in `[default]`.
fn files(n: usize) -> [(&'static str, String); 3] {
    let mut keys = format!("{HEAD}\n[models]\n");
    let mut sections = HEAD.to_string();
    let mut unknown = HEAD.to_string();
    for i in 0..n {
        keys.push_str(&format!("Alias{i} = model.{i}\n"));
        sections.push_str(&format!("\n[s{i}]\nk = v\n"));
        unknown.push_str(&format!("Unknown{i} = v\n"));
    }
    [
        ("keys in [models]", keys),
        ("sections", sections),
        ("unknown keys in [default]", unknown),
    ]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("large.properties");
    println!(
        "| {n} | parse ms | entries() ms | get of every entry ms | open + validate ms | total ms |"
    );
    println!("|---|---|---|---|---|---|");
    for (what, text) in files(n) {
        let start = Instant::now();
        let doc = Document::parse(&path, &text).expect("parses");
        let parsed = start.elapsed();

        let start = Instant::now();
        let entries = doc.entries();
        let listed = start.elapsed();

        let start = Instant::now();
        let found = entries
            .iter()
            .filter(|e| doc.get(&e.section, &e.key).is_some())
            .count();
        let looked_up = start.elapsed();
        assert_eq!(found, entries.len());

        let start = Instant::now();
        let opened = sealed::open_doc(doc, &KeyOptions::default()).expect("opens");
        opened.validate().expect("validates");
        let validated = start.elapsed();

        println!(
            "| {what} | {} | {} | {} | {} | {} |",
            ms(parsed),
            ms(listed),
            ms(looked_up),
            ms(validated),
            ms(parsed + listed + looked_up + validated)
        );
    }
}
