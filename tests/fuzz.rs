//! Property tests ("fuzzing") of the config reader and the decryptor: any
//! input must give an answer or an error, never a panic; a sealed file
//! changed in any way must either be refused or open to exactly the values
//! that were sealed; and no message may repeat a value.
//!
//! Bounded for CI: a fixed number of cases from a fixed seed, with no
//! failure files written. `PROPTEST_CASES=100000` (and `PROPTEST_RNG_SEED`
//! for other inputs) runs longer locally; see docs/security.md.

mod common;

use bedrock_private::config::crypto::ConfigKey;
use bedrock_private::config::document::Document;
use bedrock_private::config::keys::{KeyOptions, KeyOrigin};
use bedrock_private::config::sealed::{self, KeyRecord, Lineage};
use bedrock_private::{Secret, config};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::path::PathBuf;
use std::sync::LazyLock;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 2000;
/// The seed unless `PROPTEST_RNG_SEED` says otherwise, so CI runs the same
/// inputs every time.
const SEED: u64 = 0x6265_6472_6f63_6b39;

/// The settings of every property here: [`CASES`] and [`SEED`] unless the
/// environment sets them, and no failure persistence (a failing input is
/// printed; nothing is written into the source tree).
fn settings(cases: u32) -> ProptestConfig {
    let from_env = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            from_env.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            from_env.rng_seed
        } else {
            RngSeed::Fixed(SEED)
        },
        failure_persistence: None,
        ..from_env
    }
}

/// A value no message may ever contain.
const CANARY: &str = "CanaryValue";

/// A folder with no key in it, where configs are "read" from.
static DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("temporary folder"));

fn config_path() -> PathBuf {
    DIR.path().join("fuzz.properties")
}

/// Everything the reader says about `text`: the error, or the warnings.
/// Panics (failing the property) if reading panics.
fn read_all(text: &str) -> Vec<String> {
    let doc = match Document::parse(&config_path(), text) {
        Ok(doc) => doc,
        Err(e) => return vec![e.to_string()],
    };
    assert_eq!(doc.render(), text, "rendering gives back the text");
    let entries = doc.entries();
    for e in &entries {
        let found = doc.get(&e.section.to_ascii_uppercase(), &e.key.to_ascii_lowercase());
        assert_eq!(found.as_ref(), Some(e), "get finds every entry");
        assert!(doc.has_section(&e.section));
    }
    for s in doc.sections() {
        assert!(doc.has_section(&s.to_ascii_uppercase()));
    }
    match sealed::open_doc(doc, &KeyOptions::default()) {
        Err(e) => vec![e.to_string()],
        Ok(opened) => match opened.validate() {
            Err(e) => vec![e.to_string()],
            Ok(v) => v.warnings,
        },
    }
}

fn section_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("default".to_string()),
        Just("DEFAULT".to_string()),
        Just("models".to_string()),
        Just("encryption".to_string()),
        "[a-zA-Z ]{0,8}",
    ]
}

fn key_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(config::schema::KNOWN_KEYS.to_vec()).prop_map(str::to_string),
        1 => prop::sample::select(config::schema::KNOWN_KEYS.to_vec()).prop_map(|k| k.to_ascii_lowercase()),
        1 => prop::sample::select(vec!["Format", "KeyId", "FileId", "Generation", "KeyFile", "KeyEnv", "MAC"])
            .prop_map(str::to_string),
        1 => "[A-Za-z0-9_. -]{1,12}",
    ]
}

/// Values of every kind a config holds, and some that hold the canary.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::sample::select(vec![
            "0",
            "1",
            "2",
            "3",
            "true",
            "false",
            "us-west-2",
            "900",
            "43200",
            "arn:aws:iam::222222222222:role/Bedrock",
            "arn:aws:iam::111111111111:mfa/user",
            "https://vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com",
            "http://127.0.0.1:1",
            "AKIAIOSFODNN7EXAMPLE",
            "ENC[fernet:gAAAAAB]",
            "Z0FBQUFBQg==",
            "<placeholder>",
            "'quoted'",
            "trailing\\",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,40}",
        ("[ -~]{0,12}", "[ -~]{0,12}").prop_map(|(a, b)| format!("{a}{CANARY}{b}")),
        "[ -~]{0,12}".prop_map(|a| format!("<{a}{CANARY}>")),
        ("[a-z0-9-]{0,12}", "[ -~]{0,12}").prop_map(|(a, b)| format!("{a}SecretKey = {CANARY}{b}")),
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => section_name().prop_map(|s| format!("[{s}]")),
        6 => (key_name(), prop::sample::select(vec![" = ", "=", ": ", " : ", "= "]), value())
            .prop_map(|(k, sep, v)| format!("{k}{sep}{v}")),
        1 => "[#;][ -~]{0,20}",
        1 => Just(String::new()),
        1 => "[ -~]{0,30}",
        1 => "[ \t][ -~]{0,10}",
    ]
}

/// INI-like text: mostly well formed, with every kind of flaw sometimes.
fn ini_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((line(), prop::sample::select(vec!["\n", "\r\n"])), 0..24),
    )
        .prop_map(|(bom, final_newline, lines)| {
            let mut text = if bom {
                "\u{feff}".to_string()
            } else {
                String::new()
            };
            if !lines.is_empty() {
                text.push_str("[default]\n");
            }
            for (l, eol) in lines {
                text.push_str(&l);
                text.push_str(eol);
            }
            if !final_newline {
                text.truncate(text.trim_end_matches(['\r', '\n']).len());
            }
            text
        })
}

/// A sealed copy of the shared test config, its key and what it opens to.
struct Sealed {
    text: String,
    key: ConfigKey,
    values: Vec<(String, String)>,
}

fn values_of(opened: &sealed::Opened) -> Vec<(String, String)> {
    opened
        .values
        .default
        .iter()
        .chain(&opened.values.models)
        .map(|v| (v.key.to_ascii_lowercase(), v.value.expose().to_string()))
        .collect()
}

fn reopen(text: &str, key: &ConfigKey) -> Option<sealed::Opened> {
    let doc = Document::parse(&config_path(), text).ok()?;
    sealed::reopen(doc, key, &KeyOrigin::Env).ok()
}

static SEALED: LazyLock<Sealed> = LazyLock::new(|| {
    let key = ConfigKey::generate();
    let mut doc = Document::parse(&config_path(), common::PLAIN).unwrap();
    for e in doc.entries() {
        if config::schema::is_sensitive(&e.key) {
            doc.set_value(e.index, &key.encrypt(&Secret::new(e.value.clone())));
        }
    }
    sealed::seal(&mut doc, &key, &KeyRecord::Env, &Lineage::new());
    let text = doc.render();
    let opened = reopen(&text, &key).expect("the sealed file opens");
    let values = values_of(&opened);
    assert!(values.iter().any(|(_, v)| v == common::SECRETS[1]));
    Sealed { text, key, values }
});

/// One change to bytes: flip bits of one, cut the tail, insert one, or
/// remove a run.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        3 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<prop::sample::Index>(), 1..8usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match m {
        Mutation::Flip(i, mask) => {
            let at = i.index(bytes.len());
            bytes[at] ^= mask;
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Mutation::Remove(i, n) => {
            let at = i.index(bytes.len());
            bytes.drain(at..(at + n).min(bytes.len()));
        }
    }
}

fn read_bytes(bytes: &[u8]) -> Option<Document> {
    let path = DIR.path().join("bytes.properties");
    std::fs::write(&path, bytes).unwrap();
    Document::read(&path).ok()
}

proptest! {
    #![proptest_config(settings(CASES))]

    /// Any bytes: an answer or an error, never a panic; what parses renders
    /// back byte for byte.
    #[test]
    fn any_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Some(doc) = read_bytes(&bytes) {
            let text = std::str::from_utf8(&bytes).expect("only UTF-8 parses");
            prop_assert_eq!(doc.render(), text);
            let _ = read_all(text);
        }
    }

    /// INI-like text through parsing, opening and validation: never a
    /// panic, look-ups agree with the list of entries, and no error or
    /// warning repeats a value.
    #[test]
    fn ini_text_is_read_and_values_never_shown(text in ini_text()) {
        for message in read_all(&text) {
            prop_assert!(!message.contains(CANARY), "a value in a message: {}", message);
        }
    }

    /// A sealed file changed by flips, cuts, insertions and removals is
    /// refused, or opens to exactly the values that were sealed (a change
    /// the MAC does not cover: a comment, spacing, the case of a name).
    #[test]
    fn a_changed_sealed_file_never_opens_to_other_values(
        mutations in prop::collection::vec(mutation(), 1..4)
    ) {
        let sealed = &*SEALED;
        let mut bytes = sealed.text.clone().into_bytes();
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        let Ok(text) = String::from_utf8(bytes) else {
            return Ok(());
        };
        if let Some(opened) = reopen(&text, &sealed.key) {
            prop_assert_eq!(&values_of(&opened), &sealed.values);
            let _ = opened.validate();
        }
    }

    /// Any string as a Fernet token: `None`, never a panic.
    #[test]
    fn any_string_is_not_a_token(token in prop_oneof![
        ".{0,200}",
        "gAAAAA[A-Za-z0-9_=-]{0,200}",
        "[A-Za-z0-9_-]{80,140}={0,2}",
    ]) {
        prop_assert!(SEALED.key.decrypt_token(&token).is_none());
    }

    /// A real token changed in any way decrypts to nothing, or to the very
    /// value it held (a change the decoder ignores, such as white space
    /// around it).
    #[test]
    fn a_changed_token_never_decrypts_to_another_value(
        mutations in prop::collection::vec(mutation(), 1..3)
    ) {
        let plain = Secret::new(common::SECRETS[1]);
        let token = SEALED.key.token_at(&plain, 1_700_000_000);
        let mut bytes = token.clone().into_bytes();
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        let changed = String::from_utf8_lossy(&bytes);
        if let Some(out) = SEALED.key.decrypt_token(&changed) {
            prop_assert_eq!(out.expose(), plain.expose());
        }
    }
}

#[test]
fn the_settings_are_bounded_and_repeatable() {
    let s = settings(CASES);
    if std::env::var_os("PROPTEST_CASES").is_none() {
        assert_eq!(s.cases, CASES);
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        assert_eq!(s.rng_seed, RngSeed::Fixed(SEED));
    }
    assert!(s.failure_persistence.is_none());
}
