//! The certificate authorities the server trusts when it calls an issuer (discovery, JWKS, token
//! endpoint): the system roots, plus the tenant's CA bundle (`identity.caBundleFile`) when its
//! issuers have certificates from a private CA.

use std::path::Path;

use mcp_tenancy_config::ca::{CaBundleError, MAX_CA_BUNDLE_BYTES, pem_certificates};

/// The PEM text of a CA bundle file no larger than [`MAX_CA_BUNDLE_BYTES`]; errors name the file.
pub async fn read_bundle(file: &Path) -> Result<Vec<u8>, TrustError> {
    let shown = file.display().to_string();
    let read = |message: String| TrustError::Read {
        file: shown.clone(),
        message,
    };
    let size = tokio::fs::metadata(file)
        .await
        .map_err(|e| read(e.to_string()))?
        .len();
    if size > MAX_CA_BUNDLE_BYTES as u64 {
        return Err(TrustError::Bundle {
            file: shown,
            source: CaBundleError::TooLarge(usize::try_from(size).unwrap_or(usize::MAX)),
        });
    }
    tokio::fs::read(file).await.map_err(|e| read(e.to_string()))
}

/// Extra roots for the issuer clients; empty means the system roots alone.
#[derive(Clone, Debug, Default)]
pub struct IssuerTrust {
    extra_roots: Vec<reqwest::Certificate>,
}

/// A CA bundle that cannot be used, with the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("CA bundle {file}: {message}")]
    Read { file: String, message: String },
    #[error("CA bundle {file}: {source}")]
    Bundle { file: String, source: CaBundleError },
    #[error("CA bundle {file}: certificate {index} is not a usable CA certificate: {message}")]
    Certificate {
        file: String,
        index: usize,
        message: String,
    },
}

impl IssuerTrust {
    /// The system roots, plus those of `file` when the config names one.
    pub async fn load(file: Option<&Path>) -> Result<Self, TrustError> {
        let Some(file) = file else {
            return Ok(Self::default());
        };
        let shown = file.display().to_string();
        let trust = Self::from_pem(&shown, &read_bundle(file).await?)?;
        tracing::info!(file = %shown, roots = trust.extra_roots.len(), "issuer calls trust the CA bundle");
        Ok(trust)
    }

    /// The roots of a PEM bundle; `file` names it in errors. Every certificate must parse as a
    /// trust anchor, so a bad bundle stops the server at start, not at its first issuer call.
    pub fn from_pem(file: &str, pem: &[u8]) -> Result<Self, TrustError> {
        let certificates = pem_certificates(pem).map_err(|source| TrustError::Bundle {
            file: file.to_owned(),
            source,
        })?;
        let mut anchors = rustls::RootCertStore::empty();
        let mut extra_roots = Vec::with_capacity(certificates.len());
        for (i, der) in certificates.into_iter().enumerate() {
            let certificate_error = |message: String| TrustError::Certificate {
                file: file.to_owned(),
                index: i + 1,
                message,
            };
            extra_roots.push(
                reqwest::Certificate::from_der(der.as_ref()).map_err(|e| certificate_error(e.to_string()))?,
            );
            anchors.add(der).map_err(|e| certificate_error(e.to_string()))?;
        }
        Ok(Self { extra_roots })
    }

    /// `builder` trusting these roots besides the system ones.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        if self.extra_roots.is_empty() {
            builder
        } else {
            builder.tls_certs_merge(self.extra_roots.iter().cloned())
        }
    }
}

/// A failed issuer call in words: the error and its causes (reqwest's own message stops at "error
/// sending request"), and what to do when the issuer's certificate comes from a CA nobody trusts.
pub fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut parts = vec![error.to_string()];
    let mut untrusted = false;
    let mut cause = std::error::Error::source(&error);
    while let Some(e) = cause {
        untrusted |= matches!(
            tls_error(e),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature
            ))
        );
        let text = e.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        cause = e.source();
    }
    let mut message = parts.join(": ");
    if untrusted {
        message.push_str(
            " (no trusted CA signed the issuer's certificate: if a private CA did, name its bundle in \
             spec.identity.caBundle)",
        );
    }
    message
}

/// The TLS error behind `e`: the connector wraps it in io::Errors, whose `source` skips it.
fn tls_error<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        e = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}
