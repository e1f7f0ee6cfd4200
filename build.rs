//! Records the versions of the crates that decide how `invoke` talks to AWS
//! (from `Cargo.lock`), for `--version`: a bug report then says which SDK
//! and TLS stack were built in.

fn main() {
    let lock = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let version = |name: &str| {
        let marker = format!("name = \"{name}\"\nversion = \"");
        text.find(&marker)
            .and_then(|at| {
                let rest = &text[at + marker.len()..];
                rest.find('"').map(|end| rest[..end].to_string())
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let built = format!(
        "{} (aws-sdk-bedrockruntime {}, aws-sdk-sts {}, aws-config {}; TLS: rustls {} with ring {})",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        version("aws-sdk-bedrockruntime"),
        version("aws-sdk-sts"),
        version("aws-config"),
        version("rustls"),
        version("ring"),
    );
    println!("cargo:rustc-env=BEDROCK_PRIVATE_LONG_VERSION={built}");
}
