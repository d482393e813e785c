//! Repository hygiene, enforced by `cargo test`: module docs, file names, work markers, scripts.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use marketprism_testkit::workspace_root;

    /// Every tracked-looking file under the root, skipping build output and VCS data.
    fn files(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "target" || name == ".git" {
                continue;
            }
            if path.is_dir() {
                files(&path, found);
            } else {
                found.push(path);
            }
        }
    }

    fn all_files() -> Vec<PathBuf> {
        let mut found = Vec::new();
        files(workspace_root(), &mut found);
        found
    }

    #[test]
    fn every_rust_file_starts_with_a_module_doc() {
        let undocumented: Vec<_> = all_files()
            .into_iter()
            .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
            .filter(|path| {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                !text.trim_start().starts_with("//!")
            })
            .collect();
        assert!(
            undocumented.is_empty(),
            "files without a `//!` module doc: {undocumented:?}"
        );
    }

    #[test]
    fn no_backup_or_versioned_file_names() {
        let banned = ["_old", "_v2", "_backup", "_copy", ".bak", ".orig"];
        let offenders: Vec<_> = all_files()
            .into_iter()
            .filter(|path| {
                let name = path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                banned.iter().any(|pattern| name.contains(pattern))
            })
            .collect();
        assert!(offenders.is_empty(), "git is the backup: {offenders:?}");
    }

    #[test]
    fn todos_link_an_issue() {
        let marker = ["TO", "DO"].concat();
        let offenders: Vec<String> = all_files()
            .into_iter()
            .filter(|path| {
                path.extension()
                    .is_some_and(|ext| ext == "rs" || ext == "toml" || ext == "md" || ext == "nix")
            })
            .flat_map(|path| {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                text.lines()
                    .enumerate()
                    .filter(|(_, line)| line.contains(&marker) && !line.contains("issues/"))
                    .map(|(number, _)| format!("{}:{}", path.display(), number + 1))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(
            offenders.is_empty(),
            "{marker} without an issue link: {offenders:?}"
        );
    }

    #[test]
    fn the_only_shell_script_is_ci_run() {
        let root = workspace_root();
        let scripts: Vec<_> = all_files()
            .into_iter()
            .filter(|path| {
                path.extension().is_some_and(|ext| ext == "sh")
                    || std::fs::read_to_string(path).is_ok_and(|text| {
                        text.starts_with("#!/")
                            && text.lines().next().is_some_and(|line| line.contains("sh"))
                    })
            })
            .filter(|path| path != &root.join(".ci/run"))
            .collect();
        assert!(
            scripts.is_empty(),
            "automation belongs in xtask: {scripts:?}"
        );
    }
}
