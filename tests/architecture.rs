//! The module graph of `src/` points one way, and stays that way.
//!
//! `app.rs` (and the command line, which starts it) are the only modules that know every area.
//! The shared layers — `state`, `command`, `rejection`, `config`, `http/` and `infra/` — import
//! no business area and never `app`, so a change inside an area cannot ripple into the plumbing,
//! and no area can reach back into start-up. This test reads the sources' `use crate::` lines.

use std::fs;
use std::path::{Path, PathBuf};

/// Top-level modules that are shared by every area and must not depend on any of them.
const SHARED: &[&str] = &["state", "command", "rejection", "config", "http", "infra"];
/// Modules that wire everything together; nothing else may import them.
const WIRING: &[&str] = &["app", "cli"];

fn rust_files(directory: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(directory).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/http/auth.rs` → `http`).
fn top_module(source_root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(source_root).expect("under src/");
    let first = relative.components().next().expect("a path").as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The top-level modules a file imports through `crate::` paths (in `use` lines or inline).
fn imported_modules(text: &str) -> Vec<String> {
    let mut modules = Vec::new();
    for (index, _) in text.match_indices("crate::") {
        let rest = &text[index + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inside = &group[..group.find('}').unwrap_or(group.len())];
            modules.extend(inside.split(',').filter_map(|part| {
                let name = part.trim().split("::").next()?.trim();
                (!name.is_empty() && name != "self").then(|| name.to_owned())
            }));
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            modules.push(name);
        }
    }
    modules
}

#[test]
fn shared_layers_import_no_area_and_nothing_imports_start_up() {
    let source_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&source_root, &mut files);
    assert!(
        files.len() > 20,
        "found the sources ({} files)",
        files.len()
    );
    let mut violations = Vec::new();
    for file in &files {
        let owner = top_module(&source_root, file);
        let text = fs::read_to_string(file).expect("a readable source file");
        for imported in imported_modules(&text) {
            if imported == owner {
                continue;
            }
            let shared_importing_area =
                SHARED.contains(&owner.as_str()) && !SHARED.contains(&imported.as_str());
            let reaching_into_wiring =
                WIRING.contains(&imported.as_str()) && !WIRING.contains(&owner.as_str());
            if shared_importing_area || reaching_into_wiring {
                violations.push(format!(
                    "{} ({owner}) imports crate::{imported}",
                    file.display()
                ));
            }
        }
    }
    violations.sort();
    violations.dedup();
    assert!(
        violations.is_empty(),
        "the module graph must point one way:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_import_reader_sees_grouped_and_inline_paths() {
    let text = "use crate::{admin, http::error::ApiError};\nlet x = crate::orders::place();";
    assert_eq!(imported_modules(text), ["admin", "http", "orders"]);
}
