//! Making a new encryption key: an age X25519 identity written to a new file that only
//! its owner can read, in the format of `age-keygen`, so either tool reads the other's.

use crate::error::{Error, Operation, Result};
use crate::pipeline::encrypt::new_identity;
use crate::storage::local::atomic_file::{create_private_file, fsync_dir, temp_path};
use age::secrecy::ExposeSecret;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What every face says after making a key.
pub const KEYGEN_WARNING: &str = "keep a copy of this key file somewhere other than the backups \
     (a password manager, a USB stick in a drawer): if it is lost, the backups encrypted to its \
     public key cannot be read by anyone";

/// A key made by [`keygen`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewKey {
    /// The identity file written (absolute).
    pub path: PathBuf,
    /// Its public key (`age1...`), for `encryption.recipients`.
    pub public_key: String,
    /// [`KEYGEN_WARNING`], for every face to show as it is.
    pub warning: &'static str,
}

/// Writes a new identity to `out` (mode 0600) and returns its public key. An existing
/// file is never replaced: a key overwritten is every backup made with it lost.
pub fn keygen(out: &Path) -> Result<NewKey> {
    let op = Operation::Config;
    let path = std::path::absolute(out).map_err(|e| Error::io(op, "cannot resolve", out, e))?;
    if path.exists() {
        return Err(Error::invalid_argument(
            op,
            format!(
                "{} already exists; a key file is never overwritten",
                path.display()
            ),
        )
        .with_hint("choose a new file name"));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let (text, public_key) = new_identity(&created);
    let tmp = temp_path(dir, "key");
    // Written whole under a temporary name, then linked into place: the link fails if the
    // name appeared meanwhile, and a crash never leaves half a key under the real name.
    let written = (|| {
        let mut f = create_private_file(&tmp)?;
        f.write_all(text.expose_secret().as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, &path)?;
        std::fs::remove_file(&tmp)?;
        fsync_dir(dir)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(op, "cannot write key file", &path, e));
    }
    Ok(NewKey {
        path,
        public_key,
        warning: KEYGEN_WARNING,
    })
}
