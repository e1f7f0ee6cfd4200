//! A stand-in OIDC identity provider, so that web identity federation
//! (`AssumeRoleWithWebIdentity`, as EKS pods, CI jobs and Cognito use it)
//! can be exercised without one.
//!
//! Its tokens are JWTs with the claims STS reads (`iss`, `sub`, `aud`,
//! `exp`), signed with HMAC-SHA256 under a key only the emulator holds: STS
//! here verifies them as STS verifies a provider's tokens, and anything
//! else (another signature, an unknown issuer, an expired token, a wrong
//! audience) is refused with STS's errors. A test or script gets one from
//! [`token`] or from `GET /__emulator/web-identity-token`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The provider's issuer URL (`.example` is reserved: it is never a real
/// host).
pub const DEMO_ISSUER: &str = "https://oidc.emulator.example";
/// The audience the demo web-identity role requires (the one EKS uses).
pub const DEMO_AUDIENCE: &str = "sts.amazonaws.com";

/// The signing key: fixed, so tokens stay valid across restarts of the
/// emulator, and only the emulator's.
const KEY: &[u8] = b"bedrock-emulator oidc demo signing key";

/// The claims STS reads from a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud`.
    pub audience: String,
    /// `exp`, in seconds since the epoch.
    pub expires: u64,
}

/// Why a token was refused, with STS's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// STS's error code.
    pub code: &'static str,
    /// HTTP status.
    pub status: u16,
    /// STS's message.
    pub message: String,
}

/// A token for `subject` with `audience`, valid for `lifetime`.
pub fn token(subject: &str, audience: &str, lifetime: Duration) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let claims = json!({
        "iss": DEMO_ISSUER,
        "sub": subject,
        "aud": audience,
        "iat": now.as_secs(),
        "exp": (now + lifetime).as_secs(),
    });
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "emulator"});
    let signed = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = B64.encode(sign(signed.as_bytes()));
    format!("{signed}.{signature}")
}

fn sign(data: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, KEY);
    aws_lc_rs::hmac::sign(&key, data).as_ref().to_vec()
}

/// The claims of `token`, if it is well formed, signed by this provider
/// and not expired at `now`.
pub fn verify(token: &str, now: SystemTime) -> Result<Claims, Refused> {
    let invalid = |message: &str| Refused {
        code: "InvalidIdentityToken",
        status: 400,
        message: message.to_string(),
    };
    let not_jwt = || {
        invalid(
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
        )
    };
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(not_jwt());
    };
    let decode = |part: &str| -> Option<Value> {
        let bytes = B64.decode(part).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let (Some(_header), Some(claims)) = (decode(header), decode(payload)) else {
        return Err(not_jwt());
    };
    let text = |name: &str| claims[name].as_str().unwrap_or_default().to_string();
    let issuer = text("iss");
    if issuer != DEMO_ISSUER {
        return Err(invalid(&format!(
            "No OpenIDConnect provider found in your account for {issuer}"
        )));
    }
    let expected = sign(format!("{header}.{payload}").as_bytes());
    if B64.decode(signature).ok().as_deref() != Some(&expected[..]) {
        return Err(invalid(
            "The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.",
        ));
    }
    let expires = claims["exp"].as_u64().unwrap_or(0);
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now >= expires {
        return Err(Refused {
            code: "ExpiredTokenException",
            status: 400,
            message: format!(
                "Token expired: current date/time {now} must be before the expiration date/time {expires}"
            ),
        });
    }
    Ok(Claims {
        issuer,
        subject: text("sub"),
        audience: text("aud"),
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_everything_else_is_refused() {
        let t = token(
            "system:serviceaccount:demo:app",
            DEMO_AUDIENCE,
            Duration::from_secs(60),
        );
        let claims = verify(&t, SystemTime::now()).unwrap();
        assert_eq!(claims.subject, "system:serviceaccount:demo:app");
        assert_eq!(claims.audience, DEMO_AUDIENCE);
        let later = SystemTime::now() + Duration::from_secs(120);
        assert_eq!(verify(&t, later).unwrap_err().code, "ExpiredTokenException");
        // Another signature.
        let (signed, _) = t.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", B64.encode([0u8; 32]));
        assert!(
            verify(&forged, SystemTime::now())
                .unwrap_err()
                .message
                .contains("could not be validated")
        );
        assert!(
            verify("not-a-jwt", SystemTime::now())
                .unwrap_err()
                .message
                .contains("not a valid JWT")
        );
        // Another issuer.
        let other = format!(
            "{}.{}.{}",
            B64.encode("{}"),
            B64.encode(r#"{"iss":"https://other.example","exp":9999999999}"#),
            B64.encode("x")
        );
        assert!(
            verify(&other, SystemTime::now())
                .unwrap_err()
                .message
                .contains(
                    "No OpenIDConnect provider found in your account for https://other.example"
                )
        );
    }
}
