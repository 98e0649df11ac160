//! The configuration's keys and the type each takes: the one table every face reads
//! (the Python module converts keyword arguments by it, the CLI and the C ABI name its
//! keys in help and errors).

/// The form a key's value takes at the JSON edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueType {
    /// A file system path (a string; Python also takes `os.PathLike`).
    Path,
    /// A string from a documented set of forms (schedule, zone, compression, level).
    Text,
    /// `true` or `false`.
    Bool,
    /// A whole number of 0 or more.
    Count,
    /// A whole number of 0 or more, or `null` for the default.
    OptionalCount,
    /// An object of retention counts (`{"daily": 30, ...}`).
    Retention,
    /// An `encryption` object, or `null` for none.
    Encryption,
    /// A list of remotes (`[{"name": "offsite", "url": "s3://bucket/prefix"}]`).
    Remotes,
    /// A `server` object (`{"listen": "127.0.0.1:8765", "token_env": "SQLKEEP_TOKEN"}`).
    Server,
    /// A `notify` object (`{"channels": [...], "stale_after_hours": 36}`) or a list of channels.
    Notify,
}

impl ValueType {
    /// What a value of this type looks like, for error messages at the edges.
    pub fn expected(self) -> &'static str {
        match self {
            ValueType::Path => "a path",
            ValueType::Text => "a str",
            ValueType::Bool => "a bool",
            ValueType::Count => "an int",
            ValueType::OptionalCount => "an int or None",
            ValueType::Retention => {
                "a dict such as {\"daily\": 30, \"weekly\": 12, \"monthly\": 12}"
            }
            ValueType::Encryption => {
                "a dict such as {\"recipients\": [\"age1...\"], \"identity_file\": \"key.txt\"} or {\"passphrase_env\": \"SQLKEEP_PASSPHRASE\"}, or None"
            }
            ValueType::Remotes => {
                "a list such as [{\"name\": \"offsite\", \"url\": \"s3://bucket/prefix\"}]"
            }
            ValueType::Server => {
                "a dict such as {\"listen\": \"127.0.0.1:8765\", \"token_env\": \"SQLKEEP_TOKEN\"}"
            }
            ValueType::Notify => {
                "a dict such as {\"channels\": [{\"webhook\": \"https://…\"}], \"stale_after_hours\": 36}"
            }
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigKey {
    /// The key as written in JSON, Python keywords and the C ABI.
    pub name: &'static str,
    /// The type of its value.
    pub value_type: ValueType,
}

const fn key(name: &'static str, value_type: ValueType) -> ConfigKey {
    ConfigKey { name, value_type }
}

/// Every top-level key, in documentation order.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    key("database", ValueType::Path),
    key("backup_dir", ValueType::Path),
    key("schedule", ValueType::Text),
    key("timezone", ValueType::Text),
    key("catch_up", ValueType::Bool),
    key("compression", ValueType::Text),
    key("compression_level", ValueType::OptionalCount),
    key("verify_after_backup", ValueType::Text),
    key("test_restore_every_days", ValueType::Count),
    key("retention", ValueType::Retention),
    key("backup_on_shutdown", ValueType::Bool),
    key("incremental", ValueType::Bool),
    key("encryption", ValueType::Encryption),
    key("notify", ValueType::Notify),
    key("remotes", ValueType::Remotes),
    key("server", ValueType::Server),
];

/// The keys of the `retention` object.
pub const RETENTION_KEYS: &[&str] = &[
    "keep_within",
    "keep_last",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "yearly",
    "auto",
    "max_total_bytes",
    "max_total_percent_of_disk",
];

/// The key named `name`.
pub fn find(name: &str) -> Option<&'static ConfigKey> {
    CONFIG_KEYS.iter().find(|k| k.name == name)
}

/// The names of [`CONFIG_KEYS`].
pub fn names() -> Vec<&'static str> {
    CONFIG_KEYS.iter().map(|k| k.name).collect()
}
