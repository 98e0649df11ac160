//! Everything that depends on the operating system, behind one narrow interface: file
//! modes that keep backups private, positional reads and writes, making directory entries
//! durable, lowering a thread's priority, and the permission check of a key file.
//!
//! Only Linux is implemented and tested (`linux.rs`). Support for another system is one
//! more file with the same functions, chosen below; nothing else in the crate names an OS.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!(
    "sqlkeep is implemented for Linux only so far: add src/platform/<os>.rs with the functions of src/platform/linux.rs"
);
