//! The `server` key: where `sqlkeep serve` listens and the name of the environment
//! variable holding its bearer token (issue 16). The token itself is never in the
//! configuration: only the variable's name.

use super::change::{string, sub_object, unknown_key};
use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::net::SocketAddr;

/// The keys of the `server` object.
pub const SERVER_KEYS: &[&str] = &["listen", "token_env"];

/// The HTTP service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Server {
    /// The address and port to listen on.
    pub listen: SocketAddr,
    /// The environment variable that holds the bearer token every `/api/` and
    /// `/metrics` request must carry; `None`: no token (allowed on loopback only).
    pub token_env: Option<String>,
}

impl Default for Server {
    fn default() -> Server {
        Server {
            listen: SocketAddr::from(([127, 0, 0, 1], 8765)),
            token_env: None,
        }
    }
}

/// Fields of `server` to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerChange {
    pub listen: Option<SocketAddr>,
    /// `Some(None)` removes the token.
    pub token_env: Option<Option<String>>,
}

impl Server {
    pub(crate) fn to_value(&self) -> Value {
        json!({"listen": self.listen.to_string(), "token_env": self.token_env})
    }

    /// `self` with the fields `change` sets.
    pub fn with_change(&self, change: &ServerChange) -> Server {
        Server {
            listen: change.listen.unwrap_or(self.listen),
            token_env: change.token_env.clone().unwrap_or(self.token_env.clone()),
        }
    }
}

impl ServerChange {
    /// Parses a partial `server` object; errors name `server.<key>`.
    pub fn from_value(v: &Value) -> Result<ServerChange> {
        let obj = sub_object(
            "server",
            v,
            "{\"listen\": \"127.0.0.1:8765\", \"token_env\": \"SQLKEEP_TOKEN\"}",
        )?;
        let mut c = ServerChange::default();
        for (k, val) in obj {
            let key = format!("server.{k}");
            match k.as_str() {
                "listen" => {
                    let s = string(&key, val)?;
                    c.listen = Some(s.parse().map_err(|_| {
                        Error::config(
                            &key,
                            format!("{s:?} is not an address and port; use a form such as \"127.0.0.1:8765\" or \"[::1]:8765\""),
                        )
                    })?);
                }
                "token_env" => {
                    c.token_env = Some(match val {
                        Value::Null => None,
                        v => {
                            let name = string(&key, v)?;
                            let ok = !name.is_empty()
                                && !name.starts_with(|c: char| c.is_ascii_digit())
                                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                            if !ok {
                                return Err(Error::config(
                                    &key,
                                    "is the *name* of an environment variable holding the token (such as \"SQLKEEP_TOKEN\"), never the token itself",
                                ));
                            }
                            Some(name.to_string())
                        }
                    })
                }
                other => return Err(unknown_key(&key, other, SERVER_KEYS)),
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_bad_keys() {
        let c =
            ServerChange::from_value(&json!({"listen": "0.0.0.0:9000", "token_env": "APP_TOKEN"}))
                .unwrap();
        let s = Server::default().with_change(&c);
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.token_env.as_deref(), Some("APP_TOKEN"));
        for (v, key, text) in [
            (
                json!({"listen": "localhost"}),
                "server.listen",
                "address and port",
            ),
            (
                json!({"token_env": "s3cr3t-t0ken!"}),
                "server.token_env",
                "never the token",
            ),
            (json!({"port": 1}), "server.port", "unknown key"),
        ] {
            let e = ServerChange::from_value(&v).unwrap_err();
            assert_eq!(e.key(), Some(key), "{e}");
            assert!(e.to_string().contains(text), "{e}");
            assert!(!e.to_string().contains("s3cr3t"), "{e}");
        }
    }
}
