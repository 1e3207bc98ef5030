//! CA bundles: PEM certificates the tenant server trusts, besides the system roots, when it calls
//! an issuer whose certificate a private CA signed. The operator checks a referenced bundle with
//! the same parser the server reads it with.

use rustls_pki_types::{CertificateDer, pem::PemObject};

/// Largest bundle read. The whole public web PKI in PEM is about 220 KiB.
pub const MAX_CA_BUNDLE_BYTES: usize = 1024 * 1024;
/// File name of the bundle in the pod (a ConfigMap key is mounted under this name).
pub const CA_BUNDLE_FILE: &str = "ca.crt";

/// Why a bundle cannot be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaBundleError {
    #[error("{0} bytes, larger than the {MAX_CA_BUNDLE_BYTES} byte limit")]
    TooLarge(usize),
    #[error("PEM section {index}: {message}")]
    Pem { index: usize, message: String },
    #[error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty,
}

/// The certificates of a PEM bundle, in order. Sections that are not certificates (comments,
/// parameters) are skipped; a malformed one is an error, never silently dropped.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CaBundleError> {
    if pem.len() > MAX_CA_BUNDLE_BYTES {
        return Err(CaBundleError::TooLarge(pem.len()));
    }
    let certificates = CertificateDer::pem_slice_iter(pem)
        .enumerate()
        .map(|(index, item)| {
            item.map_err(|e| CaBundleError::Pem {
                index: index + 1,
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if certificates.is_empty() {
        return Err(CaBundleError::Empty);
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";

    #[test]
    fn reads_every_certificate_and_skips_other_sections() {
        let bundle = format!(
            "# corporate roots\n{CERT}-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{CERT}"
        );
        let certs = pem_certificates(bundle.as_bytes()).expect("valid bundle");
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].as_ref(), &[0x30, 0x03, 0x02, 0x01, 0x01]);
    }

    #[test]
    fn refuses_empty_malformed_and_oversized_bundles() {
        assert_eq!(pem_certificates(b""), Err(CaBundleError::Empty));
        assert_eq!(
            pem_certificates(b"not a certificate\n"),
            Err(CaBundleError::Empty)
        );
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            pem_certificates(format!("{CERT}{broken}").as_bytes()),
            Err(CaBundleError::Pem { index: 2, .. })
        ));
        let unterminated = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n";
        assert!(matches!(
            pem_certificates(unterminated.as_bytes()),
            Err(CaBundleError::Pem { index: 1, .. })
        ));
        let huge = vec![b'a'; MAX_CA_BUNDLE_BYTES + 1];
        assert_eq!(
            pem_certificates(&huge),
            Err(CaBundleError::TooLarge(MAX_CA_BUNDLE_BYTES + 1))
        );
    }
}
