//! House rules checked as a test, so plain `cargo test` enforces them (rust-analyzer's habit).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Checks every tracked Rust file and returns how many were checked.
pub(crate) fn check(root: &Path) -> Result<usize> {
    let mut files = Vec::new();
    collect(root, &mut files)?;
    let mut problems = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path)?;
        let shown = path.strip_prefix(root).unwrap_or(path).display();
        if !text.starts_with("//!") {
            problems.push(format!(
                "{shown}: does not open with a `//!` line saying what it is for"
            ));
        }
        for (idx, line) in text.lines().enumerate() {
            if line.ends_with(' ') || line.ends_with('\t') {
                problems.push(format!("{shown}:{}: trailing whitespace", idx + 1));
            }
            // Spelled in two pieces so this file does not flag itself.
            let ignore_attr = concat!("#[", "ignore");
            let should_panic_attr = concat!("#[", "should_panic");
            if line.trim_start().starts_with(ignore_attr)
                || line.trim_start().starts_with(should_panic_attr)
            {
                problems.push(format!(
                    "{shown}:{}: tests are never ignored and never expect a panic",
                    idx + 1
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "tidy found {} problems:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    Ok(files.len())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | ".git" | "node_modules") && !name.starts_with('.') {
                collect(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tidy() {
        let n = super::check(&crate::project_root()).unwrap_or_else(|e| panic!("{e}"));
        assert!(n > 5, "tidy saw only {n} files; is the walk broken?");
    }
}
