//! The encryption stage: compressed bytes become an age file on the way to storage, and
//! an age file is opened again on the way back.
//!
//! The stage sits after compression (encrypted data does not compress) and before the
//! hash, so a manifest's `sha256` is that of the stored ciphertext and a quick check needs
//! no key. Secrets are read only here, when a backup is written or opened: the passphrase
//! from its environment variable, the identity from its file (refused when other users can
//! read it). None is kept beyond the operation or put into any message.

use crate::config::Encryption;
use crate::error::{Error, Operation, Result};
use age::secrecy::SecretString;
use std::io::{self, Read, Write};
use std::path::Path;

const IDENTITY_KEY: &str = "encryption.identity_file";
const PASSPHRASE_KEY: &str = "encryption.passphrase_env";

/// The passphrase from its environment variable.
fn passphrase(op: Operation, env: &str) -> Result<SecretString> {
    match std::env::var(env) {
        Ok(p) if !p.is_empty() => Ok(SecretString::from(p)),
        _ => Err(Error::key_problem(
            op,
            PASSPHRASE_KEY,
            format!("the environment variable {env} is not set; it holds the backups' passphrase"),
        )
        .with_hint(format!(
            "set {env} in the environment of the process that runs sqlkeep"
        ))),
    }
}

/// The age encryptor for a new backup under `enc`.
pub(crate) fn encryptor(enc: &Encryption) -> Result<age::Encryptor> {
    match enc {
        Encryption::Recipients { recipients, .. } => {
            let parsed = recipients
                .iter()
                .map(|r| {
                    r.parse::<age::x25519::Recipient>().map_err(|_| {
                        Error::config(
                            "encryption.recipients",
                            "holds a key that is not an age public key",
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| {
                    Error::config(
                        "encryption.recipients",
                        format!("cannot encrypt to these keys: {e}"),
                    )
                })
        }
        Encryption::Passphrase { passphrase_env } => Ok(age::Encryptor::with_user_passphrase(
            passphrase(Operation::Backup, passphrase_env)?,
        )),
    }
}

/// A writer that encrypts what passes through it into an age file, or passes it on
/// unchanged when there is no encryption.
pub(crate) enum Sealer<W: Write> {
    Clear(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> Sealer<W> {
    /// Wraps `inner`; with an encryptor, the age header is written at once.
    pub fn new(inner: W, encryptor: Option<age::Encryptor>) -> io::Result<Sealer<W>> {
        Ok(match encryptor {
            None => Sealer::Clear(inner),
            Some(e) => Sealer::Age(e.wrap_output(inner)?),
        })
    }

    /// Writes the last encrypted chunk and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Sealer::Clear(w) => Ok(w),
            Sealer::Age(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Sealer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sealer::Clear(w) => w.write(buf),
            Sealer::Age(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sealer::Clear(w) => w.write_all(buf),
            Sealer::Age(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sealer::Clear(w) => w.flush(),
            Sealer::Age(w) => w.flush(),
        }
    }
}

/// The keys this configuration has for opening encrypted backups. Nothing is read until
/// a backup needs opening.
#[derive(Clone, Copy)]
pub struct Keys<'a> {
    encryption: Option<&'a Encryption>,
}

/// Why an age file did not open.
pub(crate) enum OpenFailure {
    /// The key is missing or wrong: an error, the backup is not judged.
    Key(Error),
    /// The file is not a well-formed age file.
    Malformed(String),
}

impl<'a> Keys<'a> {
    /// The keys of a configuration's `encryption`.
    pub fn of(encryption: Option<&'a Encryption>) -> Keys<'a> {
        Keys { encryption }
    }

    /// No keys (a machine without encryption configured).
    pub fn none() -> Keys<'static> {
        Keys { encryption: None }
    }

    /// Whether an encrypted backup can be decrypted here at all (a key is configured;
    /// whether it is the right one shows when it is tried).
    pub fn available(&self) -> bool {
        match self.encryption {
            Some(Encryption::Recipients { identity_file, .. }) => identity_file.is_some(),
            Some(Encryption::Passphrase { .. }) => true,
            None => false,
        }
    }

    /// Reads the configured key now (identity file or passphrase variable), so a missing,
    /// unreadable or exposed key is reported before a long operation starts.
    pub fn check(&self, op: Operation) -> Result<()> {
        self.identities(op, "(any)").map(drop)
    }

    fn identities(&self, op: Operation, id: &str) -> Result<Vec<Box<dyn age::Identity>>> {
        match self.encryption {
            Some(Encryption::Recipients {
                identity_file: Some(path),
                ..
            }) => read_identity_file(op, path),
            Some(Encryption::Passphrase { passphrase_env }) => {
                let mut identity = age::scrypt::Identity::new(passphrase(op, passphrase_env)?);
                // Files written by sqlkeep use age's calibrated work factor; allow some
                // slower machines' files, not a file that asks for hours of work.
                identity.set_max_work_factor(22);
                Ok(vec![Box::new(identity)])
            }
            _ => Err(Error::key_problem(
                op,
                IDENTITY_KEY,
                format!("backup {id} is encrypted and this configuration has no key to open it"),
            )
            .with_hint("set encryption.identity_file to the age identity (secret key) file, or encryption.passphrase_env for a passphrase backup")),
        }
    }

    /// Opens the age file `input` of backup `id` (encrypted to `recipients`, for the
    /// message) and returns a reader of its plaintext.
    pub(crate) fn open<'r, R: Read + 'r>(
        &self,
        op: Operation,
        id: &str,
        recipients: &[String],
        input: R,
    ) -> std::result::Result<Box<dyn Read + 'r>, OpenFailure> {
        let identities = self.identities(op, id).map_err(OpenFailure::Key)?;
        let decryptor =
            age::Decryptor::new(input).map_err(|e| OpenFailure::Malformed(e.to_string()))?;
        let scrypt = decryptor.is_scrypt();
        match decryptor.decrypt(identities.iter().map(|i| i.as_ref())) {
            Ok(reader) => Ok(Box::new(reader)),
            Err(age::DecryptError::Io(e)) => Err(OpenFailure::Malformed(e.to_string())),
            Err(age::DecryptError::InvalidHeader | age::DecryptError::InvalidMac) if !scrypt => {
                Err(OpenFailure::Malformed("the age header is damaged".into()))
            }
            Err(_) => Err(OpenFailure::Key(self.wrong_key(op, id, recipients, scrypt))),
        }
    }

    fn wrong_key(&self, op: Operation, id: &str, recipients: &[String], scrypt: bool) -> Error {
        match (self.encryption, scrypt) {
            (Some(Encryption::Passphrase { passphrase_env }), true) => Error::key_problem(
                op,
                PASSPHRASE_KEY,
                format!("the passphrase in {passphrase_env} does not open backup {id}"),
            )
            .with_hint("set the passphrase the backup was made with"),
            (_, true) => Error::key_problem(
                op,
                PASSPHRASE_KEY,
                format!("backup {id} is encrypted with a passphrase; this configuration has an identity file"),
            )
            .with_hint("set encryption.passphrase_env to the variable holding its passphrase"),
            (Some(Encryption::Recipients { identity_file: Some(f), .. }), false) => {
                Error::key_problem(
                    op,
                    IDENTITY_KEY,
                    format!(
                        "the key in {} does not open backup {id}, which is encrypted to {}",
                        f.display(),
                        if recipients.is_empty() { "other keys".to_string() } else { recipients.join(", ") }
                    ),
                )
                .with_hint("use the identity file of one of those public keys")
            }
            _ => Error::key_problem(
                op,
                IDENTITY_KEY,
                format!("backup {id} is encrypted to public keys; a passphrase does not open it"),
            )
            .with_hint("set encryption.recipients and encryption.identity_file to its key"),
        }
    }
}

/// Reads an age identity file, refusing one that other users can read.
fn read_identity_file(op: Operation, path: &Path) -> Result<Vec<Box<dyn age::Identity>>> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::key_problem(
            op,
            IDENTITY_KEY,
            format!("cannot read the identity file {}: {e}", path.display()),
        )
        .with_hint("without the key the encrypted backups cannot be read; restore the key file from its copy")
    })?;
    if let Some(mode) = crate::platform::readable_by_others(&meta) {
        return Err(Error::key_problem(
            op,
            IDENTITY_KEY,
            format!(
                "the identity file {} can be read by other users (mode {mode:o}); it is not used",
                path.display()
            ),
        )
        .with_hint(format!("run `chmod 600 {}`", path.display())));
    }
    let not_identity = |why: String| {
        Error::key_problem(
            op,
            IDENTITY_KEY,
            format!("{} is not an age identity file: {why}", path.display()),
        )
    };
    let file = age::IdentityFile::from_file(path.to_string_lossy().into_owned())
        .map_err(|e| not_identity(e.to_string()))?;
    let identities = file
        .into_identities()
        .map_err(|e| not_identity(e.to_string()))?;
    if identities.is_empty() {
        return Err(not_identity("it holds no key".into()));
    }
    Ok(identities
        .into_iter()
        .map(|i| i as Box<dyn age::Identity>)
        .collect())
}

/// Checks that `input` starts with a well-formed age header (no key needed).
pub(crate) fn check_header<R: Read>(input: R) -> std::result::Result<(), String> {
    age::Decryptor::new(input)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A new X25519 identity in the `age-keygen` file format, and its public key.
pub(crate) fn new_identity(created: &str) -> (SecretString, String) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let text = format!(
        "# created: {created}\n# public key: {public}\n{}\n",
        identity.to_string().expose_secret()
    );
    (SecretString::from(text), public)
}
