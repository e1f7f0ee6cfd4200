//! Who exists in the emulator and what each may do.
//!
//! Users with access keys, roles with trust policies (who may assume them,
//! the external id and MFA they demand) and the models each principal may
//! invoke come from a small JSON file, or from the built-in default that the
//! docs list. Temporary credentials issued by STS and by the instance
//! metadata service are kept here too, with their expiry and what their
//! session carries (MFA, source identity, a session policy).

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The demo user's access key id (account 111111111111). Not an AWS key.
pub const DEMO_ACCESS_KEY: &str = "AKIA1111DEMOUSER0001";
/// The demo user's secret access key. Not an AWS key.
pub const DEMO_SECRET_KEY: &str = "demo+user+secret/for+the+local+emulator1";
/// The cross-account role every model may be invoked with.
pub const DEMO_ROLE_ARN: &str = "arn:aws:iam::222222222222:role/BedrockCrossAccount";
/// The external id [`DEMO_ROLE_ARN`] requires.
pub const DEMO_EXTERNAL_ID: &str = "workshop-demo-external-id";
/// The role a web identity token of the emulator's own OIDC provider may
/// assume (as a pod's or a CI job's role is assumed).
pub const DEMO_WEB_IDENTITY_ROLE_ARN: &str =
    "arn:aws:iam::111111111111:role/WorkshopWebIdentityRole";

/// An IAM user with one access key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User name.
    pub name: String,
    /// Twelve-digit account id.
    pub account: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Model id patterns the user may invoke (`*` at the end matches any rest).
    #[serde(default)]
    pub models: Vec<String>,
    /// MFA device serial and the code it accepts.
    #[serde(default)]
    pub mfa: Option<Mfa>,
}

/// An MFA device and the one code the emulator accepts for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mfa {
    /// Serial number or device ARN.
    pub serial: String,
    /// The code that passes.
    pub code: String,
}

/// An IAM role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Role name.
    pub name: String,
    /// Twelve-digit account id.
    pub account: String,
    /// ARNs of the users and roles that may assume it.
    #[serde(default)]
    pub trusts: Vec<String>,
    /// The external id the trust policy requires.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Whether the trust policy requires MFA.
    #[serde(default)]
    pub mfa_required: bool,
    /// Model id patterns the role may invoke.
    #[serde(default)]
    pub models: Vec<String>,
    /// Longest session in seconds.
    #[serde(default = "default_max_session")]
    pub max_session_seconds: u32,
    /// The OIDC provider whose tokens the trust policy accepts
    /// (`sts:AssumeRoleWithWebIdentity`), and the audience it requires.
    #[serde(default)]
    pub web_identity: Option<WebIdentityTrust>,
    /// Whether the trust policy allows `sts:TagSession` (session tags).
    #[serde(default)]
    pub tag_session: bool,
    /// Whether the trust policy allows `sts:SetSourceIdentity`.
    #[serde(default)]
    pub set_source_identity: bool,
}

/// A trust policy statement for an OIDC provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebIdentityTrust {
    /// The provider's issuer URL (the token's `iss`).
    pub issuer: String,
    /// The audience the condition requires (the token's `aud`).
    pub audience: String,
}

fn default_max_session() -> u32 {
    43200
}

impl Role {
    /// The role's ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account, self.name)
    }
}

/// The identities file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    /// Users.
    pub users: Vec<User>,
    /// Roles.
    pub roles: Vec<Role>,
    /// The role the instance metadata service hands out, by name.
    pub instance_role: Option<String>,
    /// Models (patterns, as in `models`) the account was not granted
    /// access to: the runtime refuses them ("You don't have access to the
    /// model with the specified model ID.") and the control plane reports
    /// them `NOT_AVAILABLE`.
    #[serde(default)]
    pub no_model_access: Vec<String>,
}

impl Default for Directory {
    fn default() -> Directory {
        let user_arn = "arn:aws:iam::111111111111:user/demo-user".to_string();
        let instance_arn = "arn:aws:iam::111111111111:role/WorkshopInstanceRole".to_string();
        let trusted = vec![
            user_arn.clone(),
            instance_arn,
            DEMO_WEB_IDENTITY_ROLE_ARN.to_string(),
        ];
        let role = |name: &str, account: &str| Role {
            name: name.into(),
            account: account.into(),
            trusts: trusted.clone(),
            external_id: None,
            mfa_required: false,
            models: vec!["*".into()],
            max_session_seconds: 43200,
            web_identity: None,
            tag_session: false,
            set_source_identity: false,
        };
        Directory {
            users: vec![User {
                name: "demo-user".into(),
                account: "111111111111".into(),
                access_key_id: DEMO_ACCESS_KEY.into(),
                secret_access_key: DEMO_SECRET_KEY.into(),
                models: vec![],
                mfa: Some(Mfa {
                    serial: "arn:aws:iam::111111111111:mfa/demo-user".into(),
                    code: "123456".into(),
                }),
            }],
            roles: vec![
                Role {
                    trusts: vec![],
                    ..role("WorkshopInstanceRole", "111111111111")
                },
                Role {
                    trusts: vec![],
                    max_session_seconds: 3600,
                    web_identity: Some(WebIdentityTrust {
                        issuer: crate::oidc::DEMO_ISSUER.into(),
                        audience: crate::oidc::DEMO_AUDIENCE.into(),
                    }),
                    ..role("WorkshopWebIdentityRole", "111111111111")
                },
                Role {
                    external_id: Some(DEMO_EXTERNAL_ID.into()),
                    tag_session: true,
                    set_source_identity: true,
                    ..role("BedrockCrossAccount", "222222222222")
                },
                Role {
                    models: vec!["amazon.titan-*".into()],
                    max_session_seconds: 3600,
                    ..role("BedrockTitanOnly", "222222222222")
                },
                Role {
                    mfa_required: true,
                    ..role("BedrockWithMfa", "222222222222")
                },
            ],
            instance_role: Some("WorkshopInstanceRole".into()),
            no_model_access: Vec::new(),
        }
    }
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An IAM user, with long-term keys.
    User {
        /// `arn:aws:iam::<account>:user/<name>`.
        arn: String,
        /// Account id.
        account: String,
        /// User name.
        name: String,
    },
    /// A role session, with temporary keys.
    Session {
        /// The role's ARN.
        role_arn: String,
        /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
        assumed_arn: String,
        /// Account id.
        account: String,
        /// Role name.
        role: String,
    },
}

impl Principal {
    /// A session of `role` named `session_name`.
    pub fn role_session(role: &Role, session_name: &str) -> Principal {
        Principal::Session {
            role_arn: role.arn(),
            assumed_arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                role.account, role.name, session_name
            ),
            account: role.account.clone(),
            role: role.name.clone(),
        }
    }

    /// The ARN GetCallerIdentity returns.
    pub fn caller_arn(&self) -> &str {
        match self {
            Principal::User { arn, .. } => arn,
            Principal::Session { assumed_arn, .. } => assumed_arn,
        }
    }

    /// The ARN trust policies name.
    pub fn trust_arn(&self) -> &str {
        match self {
            Principal::User { arn, .. } => arn,
            Principal::Session { role_arn, .. } => role_arn,
        }
    }

    /// The account.
    pub fn account(&self) -> &str {
        match self {
            Principal::User { account, .. } | Principal::Session { account, .. } => account,
        }
    }
}

/// Temporary credentials the emulator issued.
#[derive(Debug, Clone)]
pub struct Session {
    /// Secret access key.
    pub secret: String,
    /// Session token.
    pub token: String,
    /// When they stop working.
    pub expires: SystemTime,
    /// Whose they are.
    pub principal: Principal,
    /// What the session carries.
    pub facts: SessionFacts,
}

/// What a session carries beyond its principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFacts {
    /// Whether it was issued after an MFA code was checked
    /// (`aws:MultiFactorAuthPresent`).
    pub mfa: bool,
    /// The source identity set when it was issued, kept through role
    /// chaining.
    pub source_identity: Option<String>,
    /// With a session policy: the model id patterns it allows. The
    /// session may invoke only what both its role and this allow.
    pub policy_models: Option<Vec<String>>,
}

/// What a request's access key resolves to.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    /// The secret to check the signature with.
    pub secret: String,
    /// The session token the request must carry, for temporary keys.
    pub token: Option<String>,
    /// Expiry, for temporary keys.
    pub expires: Option<SystemTime>,
    /// Who it is.
    pub principal: Principal,
    /// What its session carries (nothing for long-term keys).
    pub facts: SessionFacts,
}

/// The directory and the sessions issued so far.
#[derive(Debug, Default)]
pub struct Identities {
    /// Users and roles.
    pub directory: Directory,
    sessions: Mutex<HashMap<String, Session>>,
    counter: Mutex<u64>,
}

impl Identities {
    /// Wraps a directory.
    pub fn new(directory: Directory) -> Identities {
        Identities {
            directory,
            ..Identities::default()
        }
    }

    /// Looks up an access key id.
    pub fn owner(&self, access_key_id: &str) -> Option<KeyOwner> {
        if let Some(u) = self
            .directory
            .users
            .iter()
            .find(|u| u.access_key_id == access_key_id)
        {
            return Some(KeyOwner {
                secret: u.secret_access_key.clone(),
                token: None,
                expires: None,
                principal: Principal::User {
                    arn: format!("arn:aws:iam::{}:user/{}", u.account, u.name),
                    account: u.account.clone(),
                    name: u.name.clone(),
                },
                facts: SessionFacts::default(),
            });
        }
        let sessions = self.sessions.lock().expect("sessions lock");
        sessions.get(access_key_id).map(|s| KeyOwner {
            secret: s.secret.clone(),
            token: Some(s.token.clone()),
            expires: Some(s.expires),
            principal: s.principal.clone(),
            facts: s.facts.clone(),
        })
    }

    /// The role with this ARN.
    pub fn role(&self, arn: &str) -> Option<&Role> {
        self.directory.roles.iter().find(|r| r.arn() == arn)
    }

    /// The user behind a principal, for its MFA device.
    pub fn user(&self, principal: &Principal) -> Option<&User> {
        match principal {
            Principal::User { name, account, .. } => self
                .directory
                .users
                .iter()
                .find(|u| &u.name == name && &u.account == account),
            Principal::Session { .. } => None,
        }
    }

    /// Whether `principal`'s identity policy lets it invoke `model`.
    pub fn may_invoke(&self, principal: &Principal, model: &str) -> bool {
        let patterns: &[String] = match principal {
            Principal::User { .. } => self.user(principal).map(|u| &u.models[..]).unwrap_or(&[]),
            Principal::Session { role_arn, .. } => {
                self.role(role_arn).map(|r| &r.models[..]).unwrap_or(&[])
            }
        };
        matches_any(patterns, model)
    }

    /// Issues temporary credentials for `principal`'s session.
    pub fn issue(
        &self,
        principal: Principal,
        facts: SessionFacts,
        lifetime: Duration,
    ) -> (String, Session) {
        let n = {
            let mut c = self.counter.lock().expect("counter lock");
            *c += 1;
            *c
        };
        let nonce = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let key_id = format!("ASIA{}", alnum(u128::from(n) * 7919 + nonce, 16));
        let session = Session {
            secret: alnum(nonce ^ (u128::from(n) << 64), 40),
            token: format!(
                "IQoJemulator{}",
                alnum(nonce.wrapping_mul(31) + u128::from(n), 120)
            ),
            expires: SystemTime::now() + lifetime,
            principal,
            facts,
        };
        self.sessions
            .lock()
            .expect("sessions lock")
            .insert(key_id.clone(), session.clone());
        (key_id, session)
    }
}

/// Whether `model` matches one of `patterns` (`*` at the end matches any
/// rest).
pub fn matches_any(patterns: &[String], model: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => p == model,
    })
}

/// A deterministic string of `len` upper-case letters and digits from a seed
/// (a small xorshift generator: enough to make distinct, credible keys).
fn alnum(seed: u128, len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut x = (seed as u64) ^ ((seed >> 64) as u64) ^ 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            CHARS[(x % CHARS.len() as u64) as usize] as char
        })
        .collect()
}
