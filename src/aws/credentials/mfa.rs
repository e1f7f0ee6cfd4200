//! AssumeRole with an MFA code, which aws-config's `AssumeRoleProvider`
//! cannot send. A code typed on the terminal that STS refuses is asked
//! again, up to [`MFA_TRIES`] times; a code given to the run is never asked
//! again, since a script would hang.

use super::RunTime;
use super::assume_role::{Session, explain};
use crate::aws::diagnose::{self, Context};
use crate::error::{Error, Hop, RemoteKind, Result};
use crate::prompt::Prompter;
use crate::secret::{self, Secret};
use aws_credential_types::Credentials;

/// The environment variable that gives the MFA code, so that scripts need
/// not put it on the command line (where `ps` shows it).
pub(crate) const MFA_CODE_ENV: &str = "BEDROCK_PRIVATE_MFA_CODE";

/// How many codes typed on a terminal STS may refuse before the run ends.
pub(crate) const MFA_TRIES: u32 = 3;

/// What the hint says when STS refuses an MFA code.
const MFA_REFUSED: &str = "the MFA code was refused: wrong or expired (codes change every 30 s)";

/// Whether STS refused the MFA code (AWS says "MultiFactorAuthentication
/// failed ..." in an AccessDenied).
pub(super) fn refused(err: &Error) -> bool {
    matches!(
        err,
        Error::Remote { hop: Hop::Sts, code, message, .. }
            if code == "AccessDenied" && message.contains("MultiFactorAuthentication")
    )
}

/// An AssumeRole with an MFA device.
pub(super) struct Mfa<'a> {
    pub(super) session: &'a Session,
    pub(super) serial: &'a Secret,
}

/// Whether `code` has the form of an MFA code: six digits, as STS's
/// `TokenCode` pattern and every TOTP device have it.
pub(crate) fn well_formed(code: &Secret) -> bool {
    let c = code.expose();
    c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())
}

impl Mfa<'_> {
    /// Assumes the role with the code the run was given, or with codes asked
    /// on the terminal.
    pub(super) async fn assume(
        &self,
        client: &aws_sdk_sts::Client,
        runtime: &RunTime,
        ctx: &mut Context,
    ) -> Result<Credentials> {
        let shown = secret::redact_mfa_serial(self.serial);
        let given = self.session.mfa_code.as_ref();
        if given.is_none() && !runtime.interactive {
            return Err(Error::Usage(format!(
                "MFASerial is set: give the current code with --mfa-code-fd N, ${MFA_CODE_ENV} or --mfa-code (or run on a terminal to be asked)"
            )));
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let code = match given {
                Some(code) => code.clone(),
                None => crate::prompt::Terminal
                    .secret(&format!("MFA code for {shown}: "))?
                    .ok_or(Error::Interrupted)?,
            };
            if given.is_none() && !well_formed(&code) {
                if tries < MFA_TRIES {
                    eprintln!("an MFA code is the 6 digits the device shows; try again");
                    continue;
                }
                return Err(Error::Usage(
                    "MFA code: expected the 6 digits the MFA device shows".into(),
                ));
            }
            let err = match self.call(client, &code).await {
                Ok(Some(creds)) => return Ok(creds),
                Ok(None) => {
                    return Err(Error::Remote {
                        hop: Hop::Sts,
                        code: "NoCredentials".into(),
                        message: "AssumeRole returned no credentials".into(),
                        hint: None,
                        kind: RemoteKind::Service,
                    });
                }
                Err(e) => explain(client, ctx, |ctx| diagnose::sdk_error(Hop::Sts, &e, ctx)).await,
            };
            if !refused(&err) {
                return Err(err);
            }
            if given.is_none() && tries < MFA_TRIES {
                eprintln!(
                    "{MFA_REFUSED}; enter the code the device shows now (try {} of {MFA_TRIES})",
                    tries + 1
                );
                continue;
            }
            return Err(err.map_remote(|_, _, hint| {
                *hint = Some(format!(
                    "{MFA_REFUSED}: run again with the code the device shows now; MFASerial ({shown}) must name the MFA device of the identity that assumes the role"
                ))
            }));
        }
    }

    /// One AssumeRole with `code`; `None` for a reply without credentials.
    async fn call(
        &self,
        client: &aws_sdk_sts::Client,
        code: &Secret,
    ) -> std::result::Result<
        Option<Credentials>,
        aws_sdk_sts::error::SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError>,
    > {
        let role = &self.session.role;
        let out = client
            .assume_role()
            .role_arn(role.arn.secret().expose())
            .role_session_name(&self.session.name)
            .set_external_id(role.external_id.as_ref().map(|e| e.expose().to_string()))
            .duration_seconds(self.session.seconds as i32)
            .serial_number(self.serial.expose())
            .token_code(code.expose())
            .send()
            .await?;
        Ok(out.credentials().map(|c| {
            Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                std::time::SystemTime::try_from(*c.expiration()).ok(),
                "assume-role-mfa",
            )
        }))
    }
}
