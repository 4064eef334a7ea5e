//! A test CA made for one test (rcgen) and a server certificate from it for `localhost` and
//! `127.0.0.1`, as a rustls acceptor. Shared by the test binaries with `#[path]`.

use std::sync::Arc;

use tokio_rustls::rustls;

pub struct TestPki {
    /// The CA's certificate (PEM), to trust the server with.
    pub ca_pem: String,
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// The base64 SHA-256 of the server certificate's SubjectPublicKeyInfo: what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes to accept that certificate.
    #[allow(dead_code)] // read by tests/browser.rs only
    pub leaf_spki_sha256: String,
}

pub fn test_pki() -> TestPki {
    use base64::Engine;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        PublicKeyData,
    };
    use sha2::Digest;
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Hookline Test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let leaf_spki_sha256 = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(leaf_key.subject_public_key_info()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::from(leaf_key),
        )
        .unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        leaf_spki_sha256,
    }
}
