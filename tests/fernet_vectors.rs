//! The Fernet specification's acceptance vectors, through the project's own
//! encryption layer (`ConfigKey`), so a change of crate or backend that broke
//! compatibility with other Fernet implementations would be caught.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use bedrock_private::Secret;
use bedrock_private::config::crypto::ConfigKey;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Deserialize)]
struct Generate {
    token: String,
    now: String,
    iv: Vec<u8>,
    src: String,
    secret: String,
}

#[derive(Deserialize)]
struct Verify {
    token: String,
    now: String,
    ttl_sec: u64,
    src: String,
    secret: String,
}

#[derive(Deserialize)]
struct Invalid {
    desc: String,
    token: String,
    now: String,
    ttl_sec: u64,
    secret: String,
}

fn fixture<T: for<'a> Deserialize<'a>>(name: &str) -> Vec<T> {
    let path = format!(
        "{}/tests/fixtures/fernet-spec/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let vectors: Vec<T> = serde_json::from_str(&text).unwrap();
    assert!(!vectors.is_empty(), "{path} has no vectors");
    vectors
}

fn epoch(rfc3339: &str) -> u64 {
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .unwrap()
        .unix_timestamp() as u64
}

fn key(secret: &str) -> ConfigKey {
    ConfigKey::parse(Secret::new(secret), "vector").unwrap()
}

#[test]
fn verify_vectors_decrypt_to_their_source() {
    for v in fixture::<Verify>("verify.json") {
        let plain = key(&v.secret)
            .decrypt_at(&v.token, Some(v.ttl_sec), epoch(&v.now))
            .expect("a verify vector decrypts");
        assert_eq!(plain.expose(), v.src);
    }
}

#[test]
fn invalid_vectors_are_rejected() {
    let vectors = fixture::<Invalid>("invalid.json");
    assert_eq!(
        vectors.len(),
        8,
        "all eight of the specification's invalid vectors"
    );
    for v in vectors {
        let result = key(&v.secret).decrypt_at(&v.token, Some(v.ttl_sec), epoch(&v.now));
        assert!(result.is_none(), "accepted an invalid token: {}", v.desc);
    }
}

/// The layer draws a random IV, as it must, so a generated token cannot be
/// compared whole. What can be: the spec's token for these inputs decrypts
/// to `src` at `now`, and ours has the same version byte, the same timestamp,
/// the same length, and decrypts back to `src` with the spec's key.
#[test]
fn generate_vectors_match_in_everything_but_the_random_iv() {
    for v in fixture::<Generate>("generate.json") {
        let k = key(&v.secret);
        let now = epoch(&v.now);
        assert_eq!(
            k.decrypt_at(&v.token, Some(60), now).unwrap().expose(),
            v.src
        );

        let ours = k.token_at(&Secret::new(v.src.clone()), now);
        let (ours_raw, spec_raw) = (
            URL_SAFE.decode(&ours).unwrap(),
            URL_SAFE.decode(&v.token).unwrap(),
        );
        assert_eq!(ours_raw.len(), spec_raw.len(), "same length");
        assert_eq!(
            ours_raw[..9],
            spec_raw[..9],
            "same version byte and timestamp"
        );
        assert_eq!(
            spec_raw[9..25],
            v.iv[..],
            "the spec's IV sits where ours does"
        );
        assert_ne!(ours_raw[9..25], v.iv[..], "our IV is random");
        assert_eq!(k.decrypt_at(&ours, Some(60), now).unwrap().expose(), v.src);
    }
}

/// Without a TTL, as when reading a config, the timestamp is not checked,
/// as in Python's `cryptography`: a file written by a machine whose clock
/// ran ahead still opens.
#[test]
fn without_ttl_a_future_timestamp_is_accepted_like_python() {
    let v = &fixture::<Invalid>("invalid.json")
        .into_iter()
        .find(|v| v.desc.contains("far-future"))
        .expect("the far-future vector");
    assert!(key(&v.secret).decrypt_token(&v.token).is_some());
}
