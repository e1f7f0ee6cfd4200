//! Everything that talks to AWS: which endpoints and region a call uses,
//! the HTTP client, name resolution, the credentials of each source, and
//! the diagnosis of what AWS answers.

pub mod credentials;
pub mod diagnose;
pub mod endpoint;
pub mod resolve;
pub mod transport;
