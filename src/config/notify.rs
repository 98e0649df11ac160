//! The `notify` key: when backups count as stale for the health verdict, and the channels
//! that tell someone (webhook, heartbeat, email). It holds addresses and the *names* of
//! environment variables; secrets are read from the environment when a message is sent,
//! so no value written by sqlkeep can contain one.

use super::change::{count, sub_object, type_name, unknown_key};
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};

/// The keys of the `notify` object.
pub const NOTIFY_KEYS: &[&str] = &[
    "channels",
    "stale_after_hours",
    "repeat_hours",
    "timeout_seconds",
];

/// The keys of one channel object.
const CHANNEL_KEYS: &[&str] = &["webhook", "heartbeat", "email", "headers_env", "on"];

/// The keys of a channel's `email` object.
const EMAIL_KEYS: &[&str] = &[
    "smtp",
    "starttls",
    "from",
    "to",
    "username_env",
    "password_env",
];

const CHANNEL_FORMS: &str = "{\"webhook\": \"https://…\"}, {\"heartbeat\": \"https://…\"} or \
{\"email\": {\"smtp\": \"smtp://host:587\", \"from\": \"…\", \"to\": [\"…\"]}}";

/// Health and notification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notify {
    /// Where to tell someone; empty sends nothing.
    pub channels: Vec<Channel>,
    /// Hours after a scheduled backup was due without a successful backup before the
    /// health verdict turns `failing`.
    pub stale_after_hours: u32,
    /// An identical problem is not sent again within this many hours.
    pub repeat_hours: u32,
    /// How long a short-lived process (the CLI) waits at exit for pending messages.
    pub timeout_seconds: u32,
}

impl Default for Notify {
    fn default() -> Notify {
        Notify {
            channels: Vec::new(),
            stale_after_hours: 36,
            repeat_hours: 24,
            timeout_seconds: 10,
        }
    }
}

/// What a channel is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum On {
    /// A backup failed or its verification did, or the verdict turned `failing`.
    Failure,
    /// The verdict turned `warning` (rotation or test restore failed, low space, ...).
    Warning,
    /// A backup succeeded and was verified.
    Success,
    /// Backups work again after a failure or warning was sent.
    Recovery,
}

impl On {
    pub const ALL: [On; 4] = [On::Failure, On::Warning, On::Success, On::Recovery];

    pub fn as_str(self) -> &'static str {
        match self {
            On::Failure => "failure",
            On::Warning => "warning",
            On::Success => "success",
            On::Recovery => "recovery",
        }
    }

    fn parse(s: &str) -> Option<On> {
        On::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Where one channel sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A POST of a JSON body; each header's value is read from the named variable.
    Webhook {
        url: String,
        /// `(header, environment variable)`.
        headers_env: Vec<(String, String)>,
    },
    /// The healthchecks.io convention: `<url>/start`, `<url>`, `<url>/fail`.
    Heartbeat { url: String },
    /// A plain-text message over SMTP.
    Email(Email),
}

/// An email channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Email {
    /// `smtp://host[:port]` or `smtps://host[:port]` (TLS from the first byte).
    pub smtp: String,
    /// Upgrade a `smtp://` connection with STARTTLS (required when true).
    pub starttls: bool,
    pub from: String,
    pub to: Vec<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
}

/// One notification channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Channel {
    pub target: Target,
    /// What it is told about (a heartbeat pings every backup and has no `on`).
    pub on: Vec<On>,
}

impl Channel {
    /// The default `on`: failure, warning and recovery.
    pub const DEFAULT_ON: [On; 3] = [On::Failure, On::Warning, On::Recovery];

    /// `"webhook"`, `"heartbeat"` or `"email"`.
    pub fn kind(&self) -> &'static str {
        match self.target {
            Target::Webhook { .. } => "webhook",
            Target::Heartbeat { .. } => "heartbeat",
            Target::Email(_) => "email",
        }
    }

    /// The channel for a person, without anything secret: a URL's path and query (a
    /// heartbeat's check id, a chat webhook's token) are left out.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Webhook { url, .. } | Target::Heartbeat { url } => {
                format!("{} {}", self.kind(), origin(url))
            }
            Target::Email(e) => format!("email to {} via {}", e.to.join(", "), origin(&e.smtp)),
        }
    }

    pub fn wants(&self, on: On) -> bool {
        self.on.contains(&on)
    }

    fn to_value(&self) -> Value {
        let mut v = match &self.target {
            Target::Webhook { url, headers_env } => {
                let mut o = json!({"webhook": url});
                if !headers_env.is_empty() {
                    let h: Map<String, Value> = headers_env
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    o["headers_env"] = Value::Object(h);
                }
                o
            }
            Target::Heartbeat { url } => return json!({"heartbeat": url}),
            Target::Email(e) => json!({"email": {
                "smtp": e.smtp, "starttls": e.starttls, "from": e.from, "to": e.to,
                "username_env": e.username_env, "password_env": e.password_env,
            }}),
        };
        v["on"] = self.on.iter().map(|o| o.as_str()).collect();
        v
    }

    fn from_value(key: &str, v: &Value) -> Result<Channel> {
        let obj = sub_object(key, v, CHANNEL_FORMS)?;
        for k in obj.keys() {
            if !CHANNEL_KEYS.contains(&k.as_str()) {
                return Err(unknown_key(&format!("{key}.{k}"), k, CHANNEL_KEYS));
            }
        }
        let kinds: Vec<&str> = ["webhook", "heartbeat", "email"]
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let target = match kinds.as_slice() {
            ["webhook"] => Target::Webhook {
                url: url(
                    &format!("{key}.webhook"),
                    &obj["webhook"],
                    &["http", "https"],
                )?,
                headers_env: match obj.get("headers_env") {
                    None => Vec::new(),
                    Some(h) => headers(&format!("{key}.headers_env"), h)?,
                },
            },
            ["heartbeat"] => Target::Heartbeat {
                url: url(
                    &format!("{key}.heartbeat"),
                    &obj["heartbeat"],
                    &["http", "https"],
                )?,
            },
            ["email"] => Target::Email(email(&format!("{key}.email"), &obj["email"])?),
            [] => {
                return Err(Error::config(
                    key,
                    format!("names no channel; expected {CHANNEL_FORMS}"),
                ))
            }
            several => {
                return Err(Error::config(
                    key,
                    format!(
                        "names {} channels in one object; give each its own object in the list",
                        several.join(" and ")
                    ),
                ))
            }
        };
        if obj.contains_key("headers_env") && !matches!(target, Target::Webhook { .. }) {
            return Err(Error::config(
                format!("{key}.headers_env"),
                "only a webhook sends headers",
            ));
        }
        let on =
            match (&target, obj.get("on")) {
                (Target::Heartbeat { .. }, Some(_)) => return Err(Error::config(
                    format!("{key}.on"),
                    "a heartbeat pings every backup (start, success, fail); `on` does not apply",
                )),
                (Target::Heartbeat { .. }, None) => vec![On::Failure, On::Success],
                (_, None) => Channel::DEFAULT_ON.to_vec(),
                (_, Some(v)) => on_list(&format!("{key}.on"), v)?,
            };
        Ok(Channel { target, on })
    }
}

/// `scheme://host[:port]` of a URL, for messages about it.
fn origin(url: &str) -> String {
    match url.parse::<ureq::http::Uri>() {
        Ok(u) => format!(
            "{}://{}",
            u.scheme_str().unwrap_or(""),
            // Credentials in the authority (`user:pass@host`) are never shown.
            u.authority()
                .map(|a| a.as_str().rsplit('@').next().unwrap_or("").to_string())
                .unwrap_or_default()
        ),
        Err(_) => "(an invalid URL)".into(),
    }
}

fn text<'a>(key: &str, v: &'a Value, form: &str) -> Result<&'a str> {
    match v.as_str() {
        Some(s) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(Error::config(key, format!("is empty; expected {form}"))),
        None => Err(Error::config(
            key,
            format!("expected {form}, got {}", type_name(v)),
        )),
    }
}

fn url(key: &str, v: &Value, schemes: &[&str]) -> Result<String> {
    let form = format!(
        "a URL such as \"{}://host/path\"",
        schemes[schemes.len() - 1]
    );
    let s = text(key, v, &form)?;
    let u: ureq::http::Uri = s
        .parse()
        .map_err(|_| Error::config(key, format!("is not a valid URL; expected {form}")))?;
    match (u.scheme_str(), u.host()) {
        (Some(scheme), Some(h)) if schemes.contains(&scheme) && !h.is_empty() => Ok(s.to_string()),
        _ => Err(Error::config(
            key,
            format!(
                "expected a URL starting with {}://host",
                schemes.join(":// or ")
            ),
        )),
    }
}

/// An environment variable's name (the value is read when a message is sent).
fn env_name(key: &str, v: &Value) -> Result<String> {
    let s = text(
        key,
        v,
        "the name of an environment variable, such as \"SMTP_PASSWORD\"",
    )?;
    if s.contains('=') || s.contains('\0') || s.chars().any(char::is_whitespace) {
        return Err(Error::config(
            key,
            "expected the name of an environment variable (the secret itself goes in that variable, never in the configuration)",
        ));
    }
    Ok(s.to_string())
}

fn headers(key: &str, v: &Value) -> Result<Vec<(String, String)>> {
    let obj = sub_object(
        key,
        v,
        "{\"Authorization\": \"WEBHOOK_AUTH\"} (header → variable)",
    )?;
    let mut out = Vec::new();
    for (name, var) in obj {
        let k = format!("{key}.{name}");
        if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(Error::config(k, "is not a valid HTTP header name"));
        }
        out.push((name.clone(), env_name(&k, var)?));
    }
    Ok(out)
}

fn on_list(key: &str, v: &Value) -> Result<Vec<On>> {
    let form = "a list of \"failure\", \"warning\", \"success\", \"recovery\"";
    let items = v
        .as_array()
        .ok_or_else(|| Error::config(key, format!("expected {form}, got {}", type_name(v))))?;
    let mut on = Vec::new();
    for item in items {
        match item.as_str().and_then(On::parse) {
            Some(o) if !on.contains(&o) => on.push(o),
            Some(_) => {}
            None => {
                return Err(Error::config(
                    key,
                    format!("{item} is not one of them; expected {form}"),
                ))
            }
        }
    }
    if on.is_empty() {
        return Err(Error::config(
            key,
            format!("is empty, so the channel would never send; expected {form}"),
        ));
    }
    on.sort();
    Ok(on)
}

fn address(key: &str, v: &Value) -> Result<String> {
    let s = text(key, v, "an email address such as \"ops@example.com\"")?;
    s.parse::<lettre::Address>()
        .map_err(|e| Error::config(key, format!("`{s}` is not an email address ({e})")))?;
    Ok(s.to_string())
}

fn email(key: &str, v: &Value) -> Result<Email> {
    let obj = sub_object(
        key,
        v,
        "{\"smtp\": \"smtp://host:587\", \"from\": \"…\", \"to\": [\"…\"]}",
    )?;
    for k in obj.keys() {
        if !EMAIL_KEYS.contains(&k.as_str()) {
            return Err(unknown_key(&format!("{key}.{k}"), k, EMAIL_KEYS));
        }
    }
    let field = |name: &str| {
        obj.get(name)
            .ok_or_else(|| Error::config(format!("{key}.{name}"), "is required"))
    };
    let smtp = url(&format!("{key}.smtp"), field("smtp")?, &["smtp", "smtps"])?;
    let starttls = match obj.get("starttls") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(Error::config(
                format!("{key}.starttls"),
                format!("expected true or false, got {}", type_name(other)),
            ))
        }
    };
    if starttls && smtp.starts_with("smtps:") {
        return Err(Error::config(
            format!("{key}.starttls"),
            "smtps:// is TLS from the first byte; STARTTLS is for smtp:// (use one or the other)",
        ));
    }
    let to_key = format!("{key}.to");
    let to = match field("to")? {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|a| address(&to_key, a))
            .collect::<Result<Vec<_>>>()?,
        Value::String(_) => vec![address(&to_key, &obj["to"])?],
        other => {
            return Err(Error::config(
                to_key,
                format!(
                    "expected a list of email addresses, got {}",
                    type_name(other)
                ),
            ))
        }
    };
    let optional = |name: &str| {
        obj.get(name)
            .filter(|v| !v.is_null())
            .map(|v| env_name(&format!("{key}.{name}"), v))
            .transpose()
    };
    let (username_env, password_env) = (optional("username_env")?, optional("password_env")?);
    if username_env.is_some() != password_env.is_some() {
        return Err(Error::config(
            format!("{key}.password_env"),
            "username_env and password_env go together (both or neither)",
        ));
    }
    Ok(Email {
        smtp,
        starttls,
        from: address(&format!("{key}.from"), field("from")?)?,
        to,
        username_env,
        password_env,
    })
}

impl Notify {
    /// This policy with the keys of `change` applied.
    pub fn with_change(&self, change: &NotifyChange) -> Notify {
        Notify {
            channels: change
                .channels
                .clone()
                .unwrap_or_else(|| self.channels.clone()),
            stale_after_hours: change.stale_after_hours.unwrap_or(self.stale_after_hours),
            repeat_hours: change.repeat_hours.unwrap_or(self.repeat_hours),
            timeout_seconds: change.timeout_seconds.unwrap_or(self.timeout_seconds),
        }
    }

    /// The `notify` object, every key present.
    pub fn to_value(&self) -> Value {
        json!({
            "channels": self.channels.iter().map(Channel::to_value).collect::<Vec<_>>(),
            "stale_after_hours": self.stale_after_hours,
            "repeat_hours": self.repeat_hours,
            "timeout_seconds": self.timeout_seconds,
        })
    }
}

/// `notify` keys to change; `None` leaves a key as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotifyChange {
    pub channels: Option<Vec<Channel>>,
    pub stale_after_hours: Option<u32>,
    pub repeat_hours: Option<u32>,
    pub timeout_seconds: Option<u32>,
}

impl NotifyChange {
    /// Parses a partial `notify` object, or a list of channels (the short form of
    /// `{"channels": [...]}`); errors name `notify.<key>`.
    pub fn from_value(v: &Value) -> Result<NotifyChange> {
        if v.is_array() {
            return Ok(NotifyChange {
                channels: Some(channels("notify", v)?),
                ..NotifyChange::default()
            });
        }
        let obj = sub_object(
            "notify",
            v,
            "{\"channels\": [{\"webhook\": \"https://…\"}], \"stale_after_hours\": 36}",
        )?;
        let mut c = NotifyChange::default();
        for (k, val) in obj {
            let key = format!("notify.{k}");
            let at_least_one = |what: &str| -> Result<u32> {
                let n = count(&key, val)?;
                if n == 0 {
                    return Err(Error::config(&key, format!("must be at least 1 ({what})")));
                }
                Ok(n)
            };
            match k.as_str() {
                "channels" => c.channels = Some(channels(&key, val)?),
                "stale_after_hours" => {
                    c.stale_after_hours =
                        Some(at_least_one("hours after a scheduled backup was due")?)
                }
                "repeat_hours" => {
                    c.repeat_hours = Some(at_least_one(
                        "hours before an identical problem is sent again",
                    )?)
                }
                "timeout_seconds" => c.timeout_seconds = Some(count(&key, val)?),
                other => return Err(unknown_key(&key, other, NOTIFY_KEYS)),
            }
        }
        Ok(c)
    }
}

fn channels(key: &str, v: &Value) -> Result<Vec<Channel>> {
    let items = v.as_array().ok_or_else(|| {
        Error::config(
            key,
            format!(
                "expected a list of channels such as [{CHANNEL_FORMS}], got {}",
                type_name(v)
            ),
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, c)| Channel::from_value(&format!("{key}[{i}]"), c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> (String, String) {
        let e = NotifyChange::from_value(&v).unwrap_err();
        (e.key().unwrap_or("").to_string(), e.to_string())
    }

    #[test]
    fn channels_parse_and_round_trip() {
        let v = json!({"channels": [
            {"webhook": "https://hooks.example.com/T0/B1", "headers_env": {"Authorization": "HOOK_AUTH"}},
            {"heartbeat": "https://hc-ping.com/0b4d"},
            {"email": {"smtp": "smtp://mail.example.com:587", "starttls": true,
                       "from": "sqlkeep@example.com", "to": ["ops@example.com"],
                       "username_env": "SMTP_USER", "password_env": "SMTP_PASSWORD"},
             "on": ["success", "failure"]},
        ], "repeat_hours": 12});
        let n = Notify::default().with_change(&NotifyChange::from_value(&v).unwrap());
        assert_eq!(n.channels.len(), 3);
        assert_eq!(n.channels[0].on, Channel::DEFAULT_ON.to_vec());
        assert_eq!(n.channels[1].on, vec![On::Failure, On::Success]);
        assert_eq!(n.channels[2].on, vec![On::Failure, On::Success]);
        assert_eq!(n.repeat_hours, 12);
        // The whole value parses back to the same policy.
        let again =
            Notify::default().with_change(&NotifyChange::from_value(&n.to_value()).unwrap());
        assert_eq!(again, n);
        // Descriptions leave out paths (tokens, check ids).
        assert_eq!(
            n.channels[0].describe(),
            "webhook https://hooks.example.com"
        );
        assert_eq!(n.channels[1].describe(), "heartbeat https://hc-ping.com");
        assert_eq!(
            n.channels[2].describe(),
            "email to ops@example.com via smtp://mail.example.com:587"
        );
        // The short form: a list is the channels.
        let short =
            NotifyChange::from_value(&json!([{"heartbeat": "http://127.0.0.1:9/x"}])).unwrap();
        assert_eq!(short.channels.unwrap().len(), 1);
    }

    #[test]
    fn errors_name_the_key_and_the_form() {
        for (v, key, says) in [
            (
                json!({"channels": [{"webhok": "https://x"}]}),
                "notify.channels[0].webhok",
                "did you mean `webhook`",
            ),
            (
                json!({"channels": [{}]}),
                "notify.channels[0]",
                "names no channel",
            ),
            (
                json!({"channels": [{"webhook": "ftp://x/y"}]}),
                "notify.channels[0].webhook",
                "http:// or https://",
            ),
            (
                json!({"channels": [{"webhook": "https://x", "heartbeat": "https://y"}]}),
                "notify.channels[0]",
                "webhook and heartbeat",
            ),
            (
                json!({"channels": [{"heartbeat": "https://x", "on": ["failure"]}]}),
                "notify.channels[0].on",
                "does not apply",
            ),
            (
                json!({"channels": [{"webhook": "https://x", "on": ["sometimes"]}]}),
                "notify.channels[0].on",
                "\"sometimes\" is not one",
            ),
            (
                json!({"channels": [{"webhook": "https://x", "headers_env": {"Authorization": "Bearer s3cret token"}}]}),
                "notify.channels[0].headers_env.Authorization",
                "name of an environment variable",
            ),
            (
                json!({"channels": [{"email": {"smtp": "smtp://h", "from": "a@b.c"}}]}),
                "notify.channels[0].email.to",
                "is required",
            ),
            (
                json!({"channels": [{"email": {"smtp": "smtp://h", "from": "a@b.c", "to": ["nobody"]}}]}),
                "notify.channels[0].email.to",
                "not an email address",
            ),
            (
                json!({"channels": [{"email": {"smtp": "smtp://h", "from": "a@b.c", "to": "x@y.z", "password_env": "P"}}]}),
                "notify.channels[0].email.password_env",
                "both or neither",
            ),
            (
                json!({"repeat_hours": 0}),
                "notify.repeat_hours",
                "at least 1",
            ),
            (
                json!({"channel": []}),
                "notify.channel",
                "did you mean `channels`",
            ),
        ] {
            let (k, msg) = err(v.clone());
            assert_eq!(k, key, "{v}: {msg}");
            assert!(msg.contains(says), "{v}: {msg}");
        }
    }
}
