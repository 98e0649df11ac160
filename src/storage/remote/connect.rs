//! One `object_store` client per remote URL, and the scrubbing that keeps credentials out
//! of every message.
//!
//! Credentials are read by each provider's builder from its standard environment
//! (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
//! `GOOGLE_APPLICATION_CREDENTIALS`/`GOOGLE_SERVICE_ACCOUNT_KEY`, `AZURE_STORAGE_*`);
//! sqlkeep never holds them in its configuration.

use crate::config::{Location, Remote};
use crate::error::{Error, ErrorKind, Operation, Result};
use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// Environment variables whose values are secrets (or identify an account), removed
/// from any text sqlkeep writes.
const SECRET_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
];

/// `text` with the value of every credential variable replaced by `[redacted]`: server
/// error bodies can quote an access key id, and a message must not carry it on into the
/// log, an event or a notification.
pub(crate) fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    for var in SECRET_ENV {
        if let Ok(value) = std::env::var(var) {
            if value.len() >= 4 {
                out = out.replace(&value, "[redacted]");
            }
        }
    }
    out
}

/// reqwest's TLS is rustls without a built-in provider (see Cargo.toml): the ring
/// provider ureq also uses, installed once for the process unless the host application
/// installed its own.
fn tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Retries with exponential backoff for transient failures (5xx, timeouts, resets); a
/// remote that stays down fails within about a minute, and the next run catches up.
fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(8),
            base: 2.0,
        },
    }
}

fn client(r: &Remote) -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(300))
        .with_allow_http(r.allow_http)
}

fn failed(r: &Remote, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Remote,
        Operation::Offsite,
        scrub(&format!(
            "remote `{}` ({}): cannot connect: {e}",
            r.name, r.url
        )),
    )
}

fn prefixed(store: impl ObjectStore, prefix: &str) -> Arc<dyn ObjectStore> {
    if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    }
}

/// The client for remote `r`.
pub(super) fn connect(r: &Remote) -> Result<Arc<dyn ObjectStore>> {
    tls_provider();
    match &r.location {
        Location::S3 { bucket, prefix } => {
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry())
                .with_client_options(client(r))
                // Each part carries its SHA-256 and the server refuses a part that does
                // not match it: what left this machine is what was stored.
                .with_checksum_algorithm(Checksum::SHA256);
            if let Some(ep) = &r.endpoint {
                b = b.with_endpoint(ep).with_allow_http(r.allow_http);
            }
            if let Some(region) = &r.region {
                b = b.with_region(region);
            }
            Ok(prefixed(b.build().map_err(|e| failed(r, e))?, prefix))
        }
        Location::Gcs { bucket, prefix } => {
            let b = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry())
                .with_client_options(client(r));
            Ok(prefixed(b.build().map_err(|e| failed(r, e))?, prefix))
        }
        Location::Azure { container, prefix } => {
            let b = MicrosoftAzureBuilder::from_env()
                .with_container_name(container)
                .with_retry(retry())
                .with_client_options(client(r));
            Ok(prefixed(b.build().map_err(|e| failed(r, e))?, prefix))
        }
        Location::Folder(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::io(Operation::Offsite, "cannot create remote folder", dir, e)
            })?;
            let fs = LocalFileSystem::new_with_prefix(dir).map_err(|e| failed(r, e))?;
            Ok(Arc::new(fs))
        }
    }
}
