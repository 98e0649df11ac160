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

pub mod atomic_file;
pub mod backup;
pub mod clock;
pub mod compress;
pub mod config;
pub mod error;
pub mod events;
pub mod history;
mod keeper;
pub mod lock;
pub mod log;
pub mod manifest;
mod priority;
pub mod restore;
pub mod rotate;
pub mod sample;
pub mod schedule;
pub mod scheduler;
pub mod snapshot;
pub mod store;
pub mod timefmt;
pub mod verify;
pub mod zone;

pub use backup::{BackupRequest, ProgressFn};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Compression, Config, Retention, VerifyLevel};
pub use error::{Error, ErrorKind, Operation, Result};
pub use events::Event;
pub use history::{HistoryEntry, Stats};
pub use keeper::Keeper;
pub use manifest::{Kind, Manifest, Verification};
pub use restore::RestoreOutcome;
pub use rotate::RotationPlan;
pub use schedule::Schedule;
pub use scheduler::{SchedulerStatus, TickOutcome};
pub use store::Broken;
pub use zone::Zone;

/// The version of this library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
