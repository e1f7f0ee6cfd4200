//! Everything that talks to AWS: the plan of a run (region, endpoints,
//! redaction, clients), the HTTP client, requests signed without a
//! generated client, name resolution, the credentials
//! of each source, and the diagnosis of what AWS answers.

pub mod credentials;
pub(crate) mod diagnose;
pub(crate) mod document;
pub(crate) mod plan;
pub(crate) mod resolve;
pub(crate) mod signed;
pub(crate) mod transport;
