//! A PostgreSQL `database` (issue 17): a libpq connection URI, `postgresql://` or
//! `postgres://`. The password never comes from the configuration: libpq's own
//! conventions (`PGPASSWORD`, `~/.pgpass`, `PGPASSFILE`) supply it to the PostgreSQL
//! programs sqlkeep runs, and a password written into the URI is removed (with a warning)
//! before the URI is kept, shown or written anywhere.

use crate::error::{Error, Result};

/// The URI schemes that select the PostgreSQL source.
const SCHEMES: &[&str] = &["postgresql://", "postgres://"];

/// Query parameters that carry a secret and are removed like the password.
const SECRET_PARAMS: &[&str] = &["password", "sslpassword"];

/// Whether `database` names a PostgreSQL database rather than a SQLite file.
pub fn is_uri(database: &str) -> bool {
    // `get` and not slicing: the text's first bytes may not end a character (fuzzing).
    SCHEMES.iter().any(|s| {
        database
            .get(..s.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(s))
    })
}

/// A PostgreSQL database to back up: its URI without any password, and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// The connection URI, password removed: safe to show, log and write.
    pub uri: String,
    /// The database name (the URI's path).
    pub dbname: String,
}

impl PgTarget {
    /// Whether `database` names a PostgreSQL database rather than a SQLite file.
    pub fn is_uri(database: &str) -> bool {
        is_uri(database)
    }

    /// Parses a URI; also says whether a password had to be removed from it.
    pub fn parse(key: &str, text: &str) -> Result<(PgTarget, Option<String>)> {
        let form = "a libpq URI such as \"postgresql://user@localhost:5432/dbname\"";
        let mut url = url::Url::parse(text).map_err(|e| {
            Error::config(
                key,
                format!("is not a valid PostgreSQL URI ({e}); expected {form}"),
            )
        })?;
        let mut warning = None;
        if url.password().is_some() {
            let _ = url.set_password(None);
            warning = Some(());
        }
        if remove_params(&mut url, |k| SECRET_PARAMS.contains(&k)) {
            warning = Some(());
        }
        let dbname = percent_decode(url.path().trim_start_matches('/'));
        let dbname = match url.query_pairs().find(|(k, _)| k == "dbname") {
            Some((_, v)) => v.into_owned(),
            None => dbname,
        };
        if dbname.is_empty() || dbname.contains('/') {
            return Err(Error::config(
                key,
                format!("names no database; expected {form}"),
            ));
        }
        let warning = warning.map(|()| {
            format!(
                "`{key}` contained a password; sqlkeep removed it and uses {} (the password comes from PGPASSWORD, ~/.pgpass or PGPASSFILE, never from the configuration)",
                url.as_str()
            )
        });
        Ok((
            PgTarget {
                uri: url.to_string(),
                dbname,
            },
            warning,
        ))
    }

    /// The URI of another database on the same server (a scratch database, a restore
    /// target), with the same user, host, port and parameters.
    pub fn with_dbname(&self, dbname: &str) -> String {
        let mut url = url::Url::parse(&self.uri).expect("a parsed URI parses again");
        let encoded: String = url::form_urlencoded::byte_serialize(dbname.as_bytes()).collect();
        url.set_path(&format!("/{}", encoded.replace('+', "%20")));
        remove_params(&mut url, |k| k == "dbname");
        url.to_string()
    }
}

/// Removes the query parameters `drop` picks; whether any was there.
fn remove_params(url: &mut url::Url, drop: impl Fn(&str) -> bool) -> bool {
    let all: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let kept: Vec<&(String, String)> = all.iter().filter(|(k, _)| !drop(k)).collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut()
            .clear()
            .extend_pairs(kept.iter().map(|(k, v)| (k, v)));
    }
    kept.len() != all.len()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Checks a database name given as a restore target (`--to NAME`).
pub fn check_dbname(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > 63 || name.contains('\0') || name.contains('/') {
        return Err(format!(
            "{name:?} is not a PostgreSQL database name (1 to 63 bytes, no `/`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_removed_and_warned_about() {
        let (t, w) = PgTarget::parse(
            "database",
            "postgresql://app:s3cret@db.example:5433/shop?sslmode=require&password=x",
        )
        .unwrap();
        assert_eq!(
            t.uri,
            "postgresql://app@db.example:5433/shop?sslmode=require"
        );
        assert_eq!(t.dbname, "shop");
        let w = w.unwrap();
        assert!(!w.contains("s3cret"), "{w}");
        let (t, w) = PgTarget::parse("database", "postgres://app@localhost/shop").unwrap();
        assert!(w.is_none());
        assert_eq!(
            t.with_dbname("scratch 1"),
            "postgres://app@localhost/scratch%201"
        );
    }

    #[test]
    fn a_uri_without_a_database_is_refused_by_key() {
        let e = PgTarget::parse("database", "postgresql://app@localhost:5432").unwrap_err();
        assert!(e.to_string().contains("database"), "{e}");
        assert!(e.to_string().contains("names no database"), "{e}");
        assert!(is_uri("PostgreSQL://x/y") && !is_uri("app.db"));
        // Multi-byte characters where the scheme would end (found by the config fuzzer).
        assert!(!is_uri("postgresql:/é.db") && !is_uri("ééééééééééé"));
    }
}
