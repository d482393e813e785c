//! `cargo xtask schema`: writes each migration's DDL for each dialect into `sql/`.

use anyhow::{bail, Context as _};
use marketprism_schema::{migrations, Dialect};

use marketprism_testkit::workspace_root;

pub fn run(check: bool) -> anyhow::Result<()> {
    let root = workspace_root();
    let mut stale = Vec::new();
    for migration in migrations() {
        for dialect in Dialect::ALL {
            let path = root.join(migration.sql_path(dialect));
            let wanted = migration.statement(dialect);
            if std::fs::read_to_string(&path).ok().as_deref() == Some(wanted.as_str()) {
                continue;
            }
            if check {
                stale.push(path.display().to_string());
                continue;
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&path, wanted)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        bail!(
            "stale schema files: {}; run `cargo xtask schema` and commit",
            stale.join(", ")
        );
    }
    Ok(())
}
