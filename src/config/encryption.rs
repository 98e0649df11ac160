//! The `encryption` key: who can read new backups, and where the key that reads them is.
//!
//! Only public facts live here: recipients' public keys, the path of an identity file,
//! the *name* of the environment variable holding a passphrase. Secrets are read when a
//! backup is written or opened (see `pipeline::encrypt`), never stored in a configuration.

use super::change::absolute;
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The accepted forms of `encryption`, for error messages at every face.
pub const ENCRYPTION_FORMS: &str =
    "{\"recipients\": [\"age1...\"], \"identity_file\": \"key.txt\"} \
     or {\"passphrase_env\": \"SQLKEEP_PASSPHRASE\"}, or null for no encryption";

/// How new backups are encrypted (age format), and how encrypted ones are opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encryption {
    /// Encrypted to X25519 public keys (`age1...`); opened with the identity file, when this
    /// machine has one.
    Recipients {
        /// The public keys, as written (validated).
        recipients: Vec<String>,
        /// The secret key file (`age-keygen` format), absolute; `None` on a machine that
        /// only makes backups.
        identity_file: Option<PathBuf>,
    },
    /// Encrypted with a passphrase (scrypt) read from this environment variable.
    Passphrase {
        /// The variable's name.
        passphrase_env: String,
    },
}

impl Encryption {
    /// Parses the value of `encryption`; `None` for `null` (no encryption). Relative paths
    /// are taken against `base` or the current directory.
    pub fn from_value(v: &Value, base: Option<&Path>) -> Result<Option<Encryption>> {
        let obj = match v {
            Value::Null => return Ok(None),
            Value::Object(o) => o,
            _ => {
                return Err(Error::config(
                    "encryption",
                    format!("expected {ENCRYPTION_FORMS}"),
                ))
            }
        };
        for k in obj.keys() {
            if !["recipients", "identity_file", "passphrase_env"].contains(&k.as_str()) {
                return Err(Error::config(
                    format!("encryption.{k}"),
                    "unknown key; known keys are recipients, identity_file, passphrase_env",
                ));
            }
        }
        match (obj.get("recipients"), obj.get("passphrase_env")) {
            (Some(_), Some(_)) => Err(Error::config(
                "encryption",
                "give either `recipients` (public keys) or `passphrase_env`, not both",
            )),
            (None, None) => Err(Error::config(
                "encryption",
                format!("names no key; expected {ENCRYPTION_FORMS}"),
            )),
            (Some(r), None) => Ok(Some(Encryption::Recipients {
                recipients: recipients(r)?,
                identity_file: identity_file(obj, base)?,
            })),
            (None, Some(p)) => {
                if obj.contains_key("identity_file") {
                    return Err(Error::config(
                        "encryption.identity_file",
                        "belongs with `recipients`; a passphrase needs no key file",
                    ));
                }
                Ok(Some(Encryption::Passphrase {
                    passphrase_env: passphrase_env(p)?,
                }))
            }
        }
    }

    /// The value as it appears in the effective configuration.
    pub fn to_value(&self) -> Value {
        match self {
            Encryption::Recipients {
                recipients,
                identity_file,
            } => {
                let mut o = Map::new();
                o.insert("recipients".into(), json!(recipients));
                if let Some(f) = identity_file {
                    o.insert("identity_file".into(), json!(f.to_string_lossy()));
                }
                Value::Object(o)
            }
            Encryption::Passphrase { passphrase_env } => {
                json!({ "passphrase_env": passphrase_env })
            }
        }
    }
}

fn recipients(v: &Value) -> Result<Vec<String>> {
    const KEY: &str = "encryption.recipients";
    let list = v.as_array().ok_or_else(|| {
        Error::config(
            KEY,
            "expected a list of age public keys such as [\"age1...\"]",
        )
    })?;
    if list.is_empty() {
        return Err(Error::config(
            KEY,
            "is empty; name at least one age public key (\"age1...\"), made by `sqlkeep keygen` or `age-keygen`",
        ));
    }
    list.iter()
        .map(|r| {
            let s = r
                .as_str()
                .ok_or_else(|| Error::config(KEY, "expected strings such as \"age1...\""))?;
            s.parse::<age::x25519::Recipient>().map_err(|_| {
                // The value is a public key, but echo only its start: a secret key pasted
                // here by mistake must not reach a log.
                let shown: String = s.chars().take(8).collect();
                Error::config(
                    KEY,
                    format!("{shown:?}... is not an age public key; expected \"age1\" followed by 58 characters"),
                )
            })?;
            Ok(s.to_string())
        })
        .collect()
}

fn identity_file(obj: &Map<String, Value>, base: Option<&Path>) -> Result<Option<PathBuf>> {
    const KEY: &str = "encryption.identity_file";
    match obj.get("identity_file") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(absolute(KEY, Path::new(s), base)?)),
        Some(_) => Err(Error::config(
            KEY,
            "expected the path of an age identity file (from `sqlkeep keygen` or `age-keygen`)",
        )),
    }
}

fn passphrase_env(v: &Value) -> Result<String> {
    const KEY: &str = "encryption.passphrase_env";
    match v.as_str() {
        Some(s)
            if !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !s.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Ok(s.to_string())
        }
        _ => Err(Error::config(
            KEY,
            "expected the name of an environment variable such as \"SQLKEEP_PASSPHRASE\" (the passphrase itself never goes in the configuration)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn forms_parse_and_round_trip() {
        let v = json!({"recipients": [PUBLIC], "identity_file": "/k/key.txt"});
        let e = Encryption::from_value(&v, None).unwrap().unwrap();
        assert_eq!(e.to_value(), v);
        let v = json!({"passphrase_env": "SQLKEEP_PASSPHRASE"});
        let e = Encryption::from_value(&v, None).unwrap().unwrap();
        assert_eq!(e.to_value(), v);
        assert_eq!(Encryption::from_value(&Value::Null, None).unwrap(), None);
    }

    #[test]
    fn bad_values_name_their_key_and_never_echo_a_secret() {
        let secret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
        let cases = [
            (json!("age1..."), "encryption"),
            (json!({}), "encryption"),
            (json!({"recipients": []}), "encryption.recipients"),
            (json!({"recipients": [secret]}), "encryption.recipients"),
            (
                json!({"recipients": [PUBLIC], "passphrase_env": "X"}),
                "encryption",
            ),
            (
                json!({"passphrase_env": "my secret"}),
                "encryption.passphrase_env",
            ),
            (json!({"passphrase": "hunter2"}), "encryption.passphrase"),
            (
                json!({"passphrase_env": "P", "identity_file": "k"}),
                "encryption.identity_file",
            ),
        ];
        for (v, key) in cases {
            let e = Encryption::from_value(&v, None).unwrap_err();
            assert_eq!(e.key(), Some(key), "{v}: {e}");
            assert!(!e.to_string().contains(&secret[10..]), "{e}");
        }
    }
}
