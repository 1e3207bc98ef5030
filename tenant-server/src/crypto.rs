//! One crypto backend for everything: aws-lc-rs (TLS, JWT, digests).

use aws_lc_rs::digest;

/// Installs aws-lc-rs as the process-wide rustls provider. Idempotent.
pub fn install_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}
