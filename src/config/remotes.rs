//! The `remotes` key: where offsite copies of every backup go (issue 13).
//!
//! `[{"name": "offsite", "url": "s3://bucket/prefix", "endpoint": …, "region": …,
//! "allow_http": false, "retention": {…}}]`. Only public facts live here: credentials come
//! from each provider's own environment variables and files (read by `object_store`), so
//! a configuration file, `config()` output or an error never holds one.

use super::change::{string, sub_object, type_name, unknown_key, RetentionChange};
use super::Retention;
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// The keys of one remote.
pub const REMOTE_KEYS: &[&str] = &[
    "name",
    "url",
    "endpoint",
    "region",
    "allow_http",
    "retention",
];

/// The forms a remote's `url` takes, for error messages.
pub const REMOTE_URL_FORMS: &str =
    "\"s3://bucket/prefix\", \"gs://bucket/prefix\", \"az://container/prefix\" or \"file:///absolute/folder\"";

/// Where a remote keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// An S3-compatible bucket (AWS, MinIO, Backblaze B2, Cloudflare R2, Wasabi...).
    S3 { bucket: String, prefix: String },
    /// A Google Cloud Storage bucket.
    Gcs { bucket: String, prefix: String },
    /// An Azure Blob Storage container.
    Azure { container: String, prefix: String },
    /// A folder: a NAS mount, a second disk, a folder a sync client uploads.
    Folder(PathBuf),
}

/// One offsite destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The name users and the API refer to it by.
    pub name: String,
    /// The URL as written.
    pub url: String,
    /// What the URL names.
    pub location: Location,
    /// Another endpoint for an S3-compatible service (and the tests' local server).
    pub endpoint: Option<String>,
    /// The region (S3).
    pub region: Option<String>,
    /// Plain HTTP to `endpoint`; only for a loopback endpoint.
    pub allow_http: bool,
    /// This remote's retention counts over the local policy (`None`: the local policy).
    pub retention: Option<RetentionChange>,
}

impl Remote {
    /// The retention policy this remote applies, given the local one.
    pub fn retention(&self, local: &Retention) -> Retention {
        match &self.retention {
            Some(change) => local.with_change(change),
            None => *local,
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        json!({
            "name": self.name,
            "url": self.url,
            "endpoint": self.endpoint,
            "region": self.region,
            "allow_http": self.allow_http,
            "retention": self.retention.map(RetentionChange::to_value),
        })
    }

    /// Parses `remotes` (a list, or `null` for none); errors name `remotes[i].key`.
    pub fn parse_list(v: &Value) -> Result<Vec<Remote>> {
        let items = match v {
            Value::Null => return Ok(Vec::new()),
            Value::Array(items) => items,
            other => {
                return Err(Error::config(
                    "remotes",
                    format!(
                        "expected a list such as [{{\"name\": \"offsite\", \"url\": \"s3://bucket/prefix\"}}], got {}",
                        type_name(other)
                    ),
                ))
            }
        };
        let mut out: Vec<Remote> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let r = Remote::parse(&format!("remotes[{i}]"), item)?;
            if out.iter().any(|o| o.name == r.name) {
                return Err(Error::config(
                    format!("remotes[{i}].name"),
                    format!(
                        "{:?} names two remotes; give each remote its own name",
                        r.name
                    ),
                ));
            }
            out.push(r);
        }
        Ok(out)
    }

    fn parse(at: &str, v: &Value) -> Result<Remote> {
        let obj = sub_object(
            at,
            v,
            "{\"name\": \"offsite\", \"url\": \"s3://bucket/prefix\"}",
        )?;
        for k in obj.keys() {
            if !REMOTE_KEYS.contains(&k.as_str()) {
                let e = unknown_key(&format!("{at}.{k}"), k, REMOTE_KEYS);
                return Err(if looks_secret(k) {
                    e.with_hint("credentials never go into the configuration: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), GOOGLE_APPLICATION_CREDENTIALS or AZURE_STORAGE_ACCOUNT_NAME/AZURE_STORAGE_ACCOUNT_KEY in the environment")
                } else {
                    e
                });
            }
        }
        let key = |k: &str| format!("{at}.{k}");
        let name = required(obj, at, "name")?;
        let name = string(&key("name"), name)?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::config(
                key("name"),
                format!("{name:?} is not a remote name; use letters, digits, - and _ (such as \"offsite\")"),
            ));
        }
        let url = string(&key("url"), required(obj, at, "url")?)?;
        let location = parse_url(url).map_err(|m| Error::config(key("url"), m))?;
        let text = |k: &str| -> Result<Option<String>> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => Ok(Some(string(&key(k), v)?.to_string())),
            }
        };
        let endpoint = text("endpoint")?;
        let region = text("region")?;
        let allow_http = match obj.get("allow_http") {
            None => false,
            Some(v) => v.as_bool().ok_or_else(|| {
                Error::config(
                    key("allow_http"),
                    format!("expected true or false, got {}", type_name(v)),
                )
            })?,
        };
        if let Some(ep) = &endpoint {
            // Checked first, so that no message below repeats a password.
            if ep.split('/').take(3).any(|part| part.contains('@')) {
                return Err(Error::config(
                    key("endpoint"),
                    "must not carry a user or password: credentials come from the provider's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
                ));
            }
            let (scheme, host) = endpoint_host(ep).ok_or_else(|| {
                Error::config(
                    key("endpoint"),
                    format!("{ep:?} is not an endpoint URL; use a form such as \"https://s3.eu-central-1.wasabisys.com\" or \"http://127.0.0.1:9000\""),
                )
            })?;
            if scheme == "http" && !allow_http {
                return Err(Error::config(
                    key("endpoint"),
                    format!("{ep:?} is plain HTTP; use https, or set allow_http (only for a loopback endpoint)"),
                ));
            }
            if allow_http && !is_loopback(host) {
                return Err(Error::config(
                    key("allow_http"),
                    format!("plain HTTP is only allowed to a loopback endpoint (127.0.0.1, ::1, localhost), not {host:?}: credentials and backups would cross the network unencrypted"),
                ));
            }
        } else if allow_http {
            return Err(Error::config(
                key("allow_http"),
                "is only for a loopback `endpoint` (such as \"http://127.0.0.1:9000\"); set one or remove allow_http",
            ));
        }
        if endpoint.is_some() && !matches!(location, Location::S3 { .. }) {
            return Err(Error::config(
                key("endpoint"),
                "is for S3-compatible services (s3:// URLs) only",
            ));
        }
        let retention = match obj.get("retention") {
            None | Some(Value::Null) => None,
            Some(v) => Some(RetentionChange::from_value(v).map_err(|e| {
                let inner = e.key().unwrap_or("retention").to_string();
                Error::config(key(&inner), e.message().to_string())
            })?),
        };
        Ok(Remote {
            name: name.to_string(),
            url: url.to_string(),
            location,
            endpoint,
            region,
            allow_http,
            retention,
        })
    }
}

fn required<'a>(obj: &'a Map<String, Value>, at: &str, k: &str) -> Result<&'a Value> {
    obj.get(k).ok_or_else(|| {
        Error::config(
            format!("{at}.{k}"),
            match k {
                "name" => "is required: the name you refer to this remote by, such as \"offsite\""
                    .to_string(),
                _ => format!("is required: {REMOTE_URL_FORMS}"),
            },
        )
    })
}

fn looks_secret(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    ["secret", "password", "key", "token", "credential"]
        .iter()
        .any(|s| k.contains(s))
}

/// The bucket and prefix of `rest` (`bucket/some/prefix`), the prefix without slashes at
/// either end.
fn bucket_and_prefix(scheme: &str, rest: &str) -> std::result::Result<(String, String), String> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.len() < 3
        || !bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        return Err(format!(
            "{scheme}://{rest} does not name a bucket (3 or more letters, digits, '-', '.' or '_'); use {REMOTE_URL_FORMS}"
        ));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|p| p == ".." || p == ".") {
        return Err(format!(
            "the prefix of {scheme}://{rest} must not contain . or .. parts"
        ));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

fn parse_url(url: &str) -> std::result::Result<Location, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("{url:?} is not a URL; use {REMOTE_URL_FORMS}"));
    };
    match scheme {
        "s3" | "s3a" => {
            let (bucket, prefix) = bucket_and_prefix("s3", rest)?;
            Ok(Location::S3 { bucket, prefix })
        }
        "gs" => {
            let (bucket, prefix) = bucket_and_prefix(scheme, rest)?;
            Ok(Location::Gcs { bucket, prefix })
        }
        "az" | "azure" => {
            let (container, prefix) = bucket_and_prefix(scheme, rest)?;
            Ok(Location::Azure { container, prefix })
        }
        "file" => {
            let path = PathBuf::from(rest);
            if !path.is_absolute() {
                return Err(format!(
                    "{url:?} is not an absolute folder; write file:///absolute/folder (three slashes)"
                ));
            }
            if path
                .components()
                .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(format!("{url:?} must not contain .. parts"));
            }
            Ok(Location::Folder(path))
        }
        other => Err(format!(
            "the scheme {other:?} is not supported; use {REMOTE_URL_FORMS}"
        )),
    }
}

/// The scheme and host of an endpoint URL such as `http://127.0.0.1:9000/`.
fn endpoint_host(ep: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = ep.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some((scheme, host))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> Error {
        Remote::parse_list(&v).unwrap_err()
    }

    #[test]
    fn every_form_parses() {
        let v = json!([
            {"name": "offsite", "url": "s3://my-bucket/backups/app/", "endpoint": "http://127.0.0.1:9000", "allow_http": true, "region": "us-east-1"},
            {"name": "nas", "url": "file:///mnt/nas/backups", "retention": {"monthly": 60}},
            {"name": "g", "url": "gs://bucket"},
            {"name": "a", "url": "az://container/x"}
        ]);
        let r = Remote::parse_list(&v).unwrap();
        assert_eq!(
            r[0].location,
            Location::S3 {
                bucket: "my-bucket".into(),
                prefix: "backups/app".into()
            }
        );
        assert_eq!(r[1].location, Location::Folder("/mnt/nas/backups".into()));
        let local = Retention::default();
        assert_eq!(r[1].retention(&local).monthly, 60);
        assert_eq!(r[1].retention(&local).daily, local.daily);
        let again: Vec<Value> = r.iter().map(Remote::to_value).collect();
        assert_eq!(Remote::parse_list(&Value::Array(again)).unwrap(), r);
    }

    #[test]
    fn every_bad_value_names_its_key() {
        let cases = [
            (json!({"x": 1}), "remotes", "expected a list"),
            (json!([{"url": "s3://abc"}]), "remotes[0].name", "required"),
            (json!([{"name": "a"}]), "remotes[0].url", "required"),
            (
                json!([{"name": "a", "url": "ftp://x/y"}]),
                "remotes[0].url",
                "\"ftp\" is not supported",
            ),
            (
                json!([{"name": "a", "url": "file://rel/dir"}]),
                "remotes[0].url",
                "absolute",
            ),
            (
                json!([{"name": "a", "url": "s3://ab"}]),
                "remotes[0].url",
                "bucket",
            ),
            (
                json!([{"name": "a", "url": "s3://abc"}, {"name": "a", "url": "file:///x"}]),
                "remotes[1].name",
                "two remotes",
            ),
            (
                json!([{"name": "a", "url": "s3://abc", "endpoint": "http://10.0.0.5:9000", "allow_http": true}]),
                "remotes[0].allow_http",
                "loopback",
            ),
            (
                json!([{"name": "a", "url": "s3://abc", "endpoint": "http://127.0.0.1:9000"}]),
                "remotes[0].endpoint",
                "allow_http",
            ),
            (
                json!([{"name": "a", "url": "s3://abc", "allow_http": true}]),
                "remotes[0].allow_http",
                "endpoint",
            ),
            (
                json!([{"name": "a", "url": "s3://abc", "retention": {"daly": 3}}]),
                "remotes[0].retention.daly",
                "did you mean `daily`",
            ),
            (
                json!([{"name": "a", "url": "s3://abc", "endpoint": "https://AKIA:pw@s3.example.com"}]),
                "remotes[0].endpoint",
                "must not carry a user or password",
            ),
            (
                json!([{"name": "a b", "url": "s3://abc"}]),
                "remotes[0].name",
                "not a remote name",
            ),
        ];
        for (v, key, text) in cases {
            let e = err(v.clone());
            assert_eq!(e.key(), Some(key), "{v}: {e}");
            assert!(e.to_string().contains(text), "{v}: {e}");
        }
    }

    #[test]
    fn a_secret_in_the_configuration_is_refused_without_repeating_it() {
        let e =
            err(json!([{"name": "a", "url": "s3://abc", "secret_access_key": "hunter2-SECRET"}]));
        assert_eq!(e.key(), Some("remotes[0].secret_access_key"));
        assert!(e.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
