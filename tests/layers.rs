//! The core's layers, checked on its source: every module of `src/` (the CLI aside) may
//! use only modules of its own layer or of layers below it, and no two modules use each
//! other, directly or round a longer circle. ARCHITECTURE.md draws the same picture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules from the top down; a module may use the ones after it.
const LAYERS: &[&[&str]] = &[
    &["keeper"],
    &["scheduler", "notify"],
    &["ops"],
    &["context"],
    &["source", "storage"],
    &["pipeline", "model"],
    &["config"],
    &["clock", "error", "platform", "sample"],
];

fn layer_of(module: &str) -> usize {
    let top = module.split("::").next().unwrap();
    LAYERS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| panic!("module {module} is in no layer; add it to LAYERS"))
}

/// `src/ops/rotate/mod.rs` → `ops::rotate`, `src/ops/verify.rs` → `ops::verify`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules a file's code names through `crate::a::b` or `super::x` paths (test
/// modules, which may reach anywhere, are cut off at `#[cfg(test)]`).
fn uses(text: &str, module: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap();
    let mut found = BTreeSet::new();
    let here: Vec<&str> = module.split("::").collect();
    // `super` of module `a::b` is `a`, whether it lives in a/b.rs or a/b/mod.rs.
    let parent = here[..here.len() - 1].join("::");
    let mut resolve = |path: String| {
        let segments: Vec<&str> = path.split("::").collect();
        // The longest prefix that names a module.
        for n in (1..=segments.len()).rev() {
            let candidate = segments[..n].join("::");
            if known.contains(&candidate) {
                if candidate != module {
                    found.insert(candidate);
                }
                return;
            }
        }
    };
    for (prefix, base) in [("crate::", String::new()), ("super::", parent.clone())] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let after = &rest[path.len()..];
            let path = path.trim_end_matches(':');
            let full = if base.is_empty() {
                path.to_string()
            } else if path.is_empty() {
                base.clone()
            } else {
                format!("{base}::{path}")
            };
            // `crate::ops::{backup, rotate::plan}`: each item of a one-level group.
            if after.starts_with('{') {
                let group = &after[1..after.find('}').unwrap_or(after.len())];
                for item in group.split(',') {
                    let item = item.trim().split(" as ").next().unwrap_or("").trim();
                    let item = item.trim_start_matches("self");
                    if item.is_empty() || item.starts_with('{') {
                        resolve(full.clone());
                    } else {
                        resolve(format!("{full}::{item}"));
                    }
                }
            } else {
                resolve(full);
            }
        }
    }
    found
}

#[test]
fn modules_use_only_lower_layers_and_never_each_other_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| {
        let rel = f.strip_prefix(&src).unwrap();
        !rel.starts_with("cli") && rel != Path::new("main.rs") && rel != Path::new("lib.rs")
    });
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let used = uses(&text, module, &known);
        for u in &used {
            if layer_of(u) < layer_of(module) {
                wrong.push(format!("{module} uses {u}, a layer above it"));
            }
        }
        graph.insert(module.clone(), used);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // No circles: a depth-first search that meets a module on its own path.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut circle = path[at..].to_vec();
            circle.push(m.to_string());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(circle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!(
                "modules use each other round a circle: {}",
                circle.join(" -> ")
            );
        }
    }
    // The check sees real uses: the keeper reaches the operations.
    assert!(
        graph["keeper"].contains("ops::catalogue"),
        "{:?}",
        graph["keeper"]
    );
    assert!(
        graph["keeper"].contains("ops::backup"),
        "{:?}",
        graph["keeper"]
    );
    assert!(graph["scheduler::tick"].contains("ops::rotate"));
}

/// Operating-system specifics live in `src/platform/` only (issue 20): no other module
/// names `std::os` or `libc`, so another system is one more file there.
#[test]
fn only_the_platform_module_names_the_operating_system() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let platform = src.join("platform");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&platform))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("std::os::") || text.contains("libc::")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "OS-specific code outside src/platform: {offenders:?}"
    );
    assert!(files.len() > 20, "the walk found the sources");
}
