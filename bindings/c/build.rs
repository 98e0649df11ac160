//! Renders `sqlkeep.pc.in` into `target/<profile>/pkgconfig/` (deltachat-ffi renders its
//! `deltachat.pc.in` the same way):
//! - `sqlkeep-uninstalled.pc` points at this checkout (`include/` and the profile's
//!   directory holding libsqlkeep.so/.a); pkg-config picks it automatically when
//!   `PKG_CONFIG_PATH` names that directory, so programs build against a fresh
//!   `cargo build` without installing anything.
//! - `sqlkeep.pc` is for installing: prefix `$PREFIX` (default `/usr/local`), libraries in
//!   `$LIBDIR` (default `${prefix}/lib`), the header in `${prefix}/include`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// What rustc's `--print native-static-libs` reports for the static library on Linux
/// (glibc), the platform sqlkeep supports.
const LIBS_PRIVATE: &str = "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc";

fn render(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(&format!("@{key}@"), value)
        })
}

fn main() {
    println!("cargo:rerun-if-changed=sqlkeep.pc.in");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PREFIX");
    println!("cargo:rerun-if-env-changed=LIBDIR");

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out: the libraries go to
    // <target>/<profile>.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is inside the target directory")
        .to_path_buf();
    let repo = manifest_dir
        .ancestors()
        .nth(2)
        .expect("bindings/c is two levels below the repository");
    let template =
        fs::read_to_string(manifest_dir.join("sqlkeep.pc.in")).expect("sqlkeep.pc.in is readable");
    let version = env::var("CARGO_PKG_VERSION").expect("set by cargo");
    // The files must not depend on features: cargo reruns a build script per feature
    // set, so a `--no-default-features` build followed by a default one would leave the
    // first one's file here. (That build's static library also needs -lsqlite3; the
    // README says so.)

    let dir = profile_dir.join("pkgconfig");
    fs::create_dir_all(&dir).expect("can create target/<profile>/pkgconfig");
    let path_str = |p: &Path| p.to_str().expect("UTF-8 path").to_string();

    let uninstalled = render(
        &template,
        &[
            ("PREFIX", &path_str(repo)),
            ("LIBDIR", &path_str(&profile_dir)),
            ("INCLUDEDIR", &path_str(&repo.join("include"))),
            ("VERSION", &version),
            ("LIBS_PRIVATE", LIBS_PRIVATE),
        ],
    );
    write_if_changed(&dir.join("sqlkeep-uninstalled.pc"), &uninstalled);

    let prefix = env::var("PREFIX").unwrap_or_else(|_| "/usr/local".to_string());
    let libdir = env::var("LIBDIR").unwrap_or_else(|_| "${prefix}/lib".to_string());
    let installed = render(
        &template,
        &[
            ("PREFIX", &prefix),
            ("LIBDIR", &libdir),
            ("INCLUDEDIR", "${prefix}/include"),
            ("VERSION", &version),
            ("LIBS_PRIVATE", LIBS_PRIVATE),
        ],
    );
    write_if_changed(&dir.join("sqlkeep.pc"), &installed);
}

/// Leaves an unchanged file alone, so that its time stamp does not trigger rebuilds.
fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(text) {
        fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}
