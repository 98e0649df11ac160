//! sqlkeep: automatic, verified, compressed backups of a live SQLite database.
//!
//! The core crate. It knows nothing about C or Python: the C ABI (`bindings/c`) and the
//! Python module (`bindings/python`) are thin translation layers over [`Keeper`].
//!
//! ```no_run
//! use sqlkeep::{BackupRequest, Config, Keeper, VerifyLevel};
//! let keeper = Keeper::open(Config::new("app.db")?);
//! let backup = keeper.backup(&BackupRequest::manual())?;
//! assert!(keeper.verify(&backup.id, VerifyLevel::Full)?.ok);
//! # Ok::<(), sqlkeep::Error>(())
//! ```
//!
//! The layers, each importing only the ones below it (ARCHITECTURE.md draws them):
//! [`Keeper`] (`keeper.rs`) → `scheduler/`, `notify/` → `ops/` → `context.rs` →
//! `source/`, `pipeline/`, `storage/`, `config/`, `model/`, `error.rs`.

mod clock;
mod config;
mod context;
mod error;
mod keeper;
mod model;
mod notify;
mod ops;
mod pipeline;
mod platform;
mod scheduler;
mod source;
mod storage;

/// The web dashboard of `sqlkeep serve` (and of the Python web routers): one page of
/// HTML, CSS and JavaScript that uses only the JSON API under `/api/` (no build step, no
/// CDN). One copy, here, for every face that serves it.
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// The sample-database builder of `sqlkeep demo` and of the tests and benchmarks.
#[cfg(feature = "cli")]
pub mod sample;

pub use clock::{Clock, ManualClock, SystemClock, Wake};
pub use config::keys::{ConfigKey, ValueType, CONFIG_KEYS};
pub use config::schedule::Schedule;
pub use config::zone::Zone;
pub use config::{
    Channel, Compression, Config, ConfigChange, Email, Encryption, Location, Notify, NotifyChange,
    On, PgTarget, Remote, Retention, RetentionChange, Server, ServerChange, Target, VerifyLevel,
    Within, ENCRYPTION_FORMS, NOTIFY_KEYS, REMOTE_KEYS, REMOTE_URL_FORMS, SERVER_KEYS,
    WITHIN_FORMS,
};
pub use error::{Error, ErrorKind, Operation, Result};
pub use keeper::Keeper;
pub use model::backup_id::{BackupId, BACKUP_FILE_PATTERNS};
pub use model::diff::{Diff, RowChange, SchemaChange, Sides, TableDiff};
pub use model::events::{Event, Severity};
pub use model::health::{ago as format_ago, Health, Level as HealthLevel, Reason as HealthReason};
pub use model::history::{HistoryEntry, RunStatus, Stats};
pub use model::manifest::{
    ChainLink, Encrypted, Incremental, Kind, Manifest, PgFacts, TableRows, Verification,
};
pub use model::offsite::OffsiteState;
pub use model::selective::{TableRestore, TableRestoreOutcome, TableRestored};
pub use model::size::format_size;
pub use model::timefmt::{format as format_time, parse as parse_time};
pub use model::verdict::Damage;
pub use notify::NotifyResult;
pub use ops::backup::{BackupRequest, ProgressFn};
pub use ops::export::ExportOutcome;
pub use ops::keygen::{keygen, NewKey, KEYGEN_WARNING};
pub use ops::offsite::PushReport;
pub use ops::restore::{RestoreOptions, RestoreOutcome};
pub use ops::rotate::{Action, PlanEntry, RotationPlan};
pub use scheduler::{RunOutcome, SchedulerStatus, TickOutcome};
pub use storage::Broken;

/// The version of this library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Internals that the repository's own tests, fuzz targets and benchmarks reach into.
/// Not part of the API: anything here may change in any release.
#[doc(hidden)]
pub mod testing {
    pub use crate::ops::rotate::plan as rotation_plan;
    pub use crate::ops::rotate::plan_on_disk as rotation_plan_on_disk;
    pub use crate::ops::verify::{check_file, verify_file};
    pub use crate::pipeline::decompress::stream_decoder as decoder;
    pub use crate::pipeline::hash::hex;
    pub use crate::storage::local::atomic_file::{remove_with_sqlite_siblings, TMP_PREFIX};
    pub use crate::storage::local::log::{BackupLog, LOG_FILE};
}

/// The readable backups in the folder `dir`, newest first, without a keeper (the CLI
/// uses it to find the database of a folder of backups).
pub fn backups_in(dir: &std::path::Path) -> Result<Vec<Manifest>> {
    use storage::Storage;
    storage::local::store::Store::new(dir).list()
}
