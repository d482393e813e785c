//! The `clickhouse-server` command line and its generated `config.xml` and `users.xml`.
//!
//! The XML files are rendered from the typed [`ClickHouseSpec`] with a template: the
//! workspace has no serde XML crate, and the files are small and fixed apart from the ports
//! and paths, which are escaped.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A `clickhouse-server` on loopback with configuration and data under `dir`, reachable from
/// loopback only: with no `users`, user `default` without password; with `users`, exactly
/// those.
#[derive(Debug, Clone)]
pub struct ClickHouseSpec<'a> {
    /// HTTP port.
    pub http_port: u16,
    /// Native protocol port.
    pub tcp_port: u16,
    /// Configuration and data directory.
    pub dir: &'a Path,
    /// The users the server admits; none for `default` without password.
    pub users: &'a [ClickHouseUser],
}

/// A ClickHouse user with a password, confined to some databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseUser {
    /// User name.
    pub name: String,
    /// SHA-256 of the password, in hex: the configuration never holds the password.
    pub password_sha256_hex: String,
    /// Whether the user may only read.
    pub access: Access,
    /// The databases the user may use (`system` always is); none for all.
    pub databases: Vec<String>,
}

/// What a [`ClickHouseUser`] may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Create, insert, alter and read.
    ReadWrite,
    /// Read only, within a time bound per query ([`READ_ONLY_MAX_EXECUTION_SECONDS`]). It
    /// may still change settings, which clients send with their queries (`readonly = 2`).
    ReadOnly,
}

/// The longest a read-only user's query runs.
pub const READ_ONLY_MAX_EXECUTION_SECONDS: u32 = 300;

/// The users file without users given: user `default` without password, from loopback only.
/// `yandex` is the root element every release accepts (newer ones also take `clickhouse`).
const OPEN_USERS_XML: &str = r#"<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
"#;

/// The profile of read-only users.
const READ_ONLY_PROFILE: &str = "marketprism_readonly";

/// The users file admitting exactly `users`, each from loopback only.
fn users_xml(users: &[ClickHouseUser]) -> String {
    if users.is_empty() {
        return OPEN_USERS_XML.to_owned();
    }
    format!(
        r#"<yandex>
  <profiles>
    <default><max_memory_usage>2000000000</max_memory_usage></default>
    {profile}
  </profiles>
  <users>{users}
  </users>
  <quotas><default></default></quotas>
</yandex>
"#,
        profile = read_only_profile(),
        users = users_elements(users, ""),
    )
}

/// A file for the `users.d` directory of a server configured elsewhere (a distribution's
/// `/etc/clickhouse-server`): it adds the read-only profile and `users`, each replacing a
/// user of the same name (the distribution's password-less `default`).
pub fn users_d_xml(users: &[ClickHouseUser]) -> String {
    format!(
        r#"<yandex>
  <profiles>
    {profile}
  </profiles>
  <users>{users}
  </users>
</yandex>
"#,
        profile = read_only_profile(),
        users = users_elements(users, r#" replace="replace""#),
    )
}

/// The read-only users' profile.
fn read_only_profile() -> String {
    format!(
        "<{READ_ONLY_PROFILE}>
      <readonly>2</readonly>
      <max_memory_usage>2000000000</max_memory_usage>
      <max_execution_time>{READ_ONLY_MAX_EXECUTION_SECONDS}</max_execution_time>
    </{READ_ONLY_PROFILE}>"
    )
}

/// One element per user, from loopback only, each with `attributes`.
fn users_elements(users: &[ClickHouseUser], attributes: &str) -> String {
    users
        .iter()
        .map(|user| {
            let profile = match user.access {
                Access::ReadWrite => "default",
                Access::ReadOnly => READ_ONLY_PROFILE,
            };
            let databases = if user.databases.is_empty() {
                String::new()
            } else {
                let names: String = user
                    .databases
                    .iter()
                    .map(|database| format!("<database>{}</database>", escape(database)))
                    .collect();
                format!("\n      <allow_databases>{names}</allow_databases>")
            };
            format!(
                r#"
    <{name}{attributes}>
      <password_sha256_hex>{hash}</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>{profile}</profile>
      <quota>default</quota>{databases}
    </{name}>"#,
                name = escape(&user.name),
                hash = escape(&user.password_sha256_hex),
            )
        })
        .collect()
}

impl ClickHouseSpec<'_> {
    /// Writes `config.xml` and `users.xml` and returns the command starting the server.
    /// The multi-call `clickhouse` binary (as Nix installs it) is run as `clickhouse server`.
    pub fn command(&self, binary: &Path) -> io::Result<Command> {
        let config = self.write_config()?;
        let mut command = Command::new(binary);
        if binary.file_name().is_some_and(|name| name == "clickhouse") {
            command.arg("server");
        }
        command.arg(format!("--config-file={}", config.display()));
        command.current_dir(self.dir);
        Ok(command)
    }

    /// The server configuration. Logs go to the console, which the caller redirects to a
    /// file.
    fn config_xml(&self) -> String {
        let root = escape(&self.dir.display().to_string());
        format!(
            r#"<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
"#,
            http_port = self.http_port,
            tcp_port = self.tcp_port,
        )
    }

    /// Writes both files; an error names the file or directory that failed.
    fn write_config(&self) -> io::Result<PathBuf> {
        std::fs::create_dir_all(self.dir).map_err(naming("create", self.dir))?;
        let config_path = self.dir.join("config.xml");
        std::fs::write(&config_path, self.config_xml()).map_err(naming("write", &config_path))?;
        let users_path = self.dir.join("users.xml");
        std::fs::write(&users_path, users_xml(self.users)).map_err(naming("write", &users_path))?;
        Ok(config_path)
    }
}

/// Turns an error of `doing` something to `path` into one whose message names both, e.g.
/// `cannot write /state/clickhouse/config.xml: Permission denied (os error 13)`.
fn naming<'a>(doing: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |error| {
        io::Error::new(
            error.kind(),
            format!("cannot {doing} {}: {error}", path.display()),
        )
    }
}

/// `text` with the characters XML gives a meaning escaped.
fn escape(text: &str) -> String {
    text.chars()
        .map(|character| match character {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_names_ports_and_escaped_paths() {
        let spec = ClickHouseSpec {
            http_port: 8123,
            tcp_port: 9000,
            dir: Path::new("/state/a&b"),
            users: &[],
        };
        let config = spec.config_xml();
        assert!(config.contains("<http_port>8123</http_port>"));
        assert!(config.contains("<tcp_port>9000</tcp_port>"));
        assert!(config.contains("<path>/state/a&amp;b/data/</path>"));
    }

    #[test]
    fn a_write_error_names_the_path() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").expect("write");
        let spec = ClickHouseSpec {
            http_port: 8123,
            tcp_port: 9000,
            dir: &file.join("clickhouse"),
            users: &[],
        };
        let error = spec
            .command(Path::new("/usr/sbin/clickhouse-server"))
            .expect_err("a file is in the way");
        assert!(
            error.to_string().starts_with(&format!(
                "cannot create {}: ",
                file.join("clickhouse").display()
            )),
            "{error}"
        );
    }

    #[test]
    fn the_multi_call_binary_runs_as_server() {
        let dir = tempfile::tempdir().expect("dir");
        let spec = ClickHouseSpec {
            http_port: 8123,
            tcp_port: 9000,
            dir: dir.path(),
            users: &[],
        };
        let command = spec
            .command(Path::new("/nix/bin/clickhouse"))
            .expect("writes");
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args[0], "server");
        assert!(dir.path().join("config.xml").is_file());
        assert!(dir.path().join("users.xml").is_file());
        let command = spec
            .command(Path::new("/usr/sbin/clickhouse-server"))
            .expect("writes");
        assert_eq!(command.get_args().count(), 1);
    }

    #[test]
    fn given_users_replace_the_open_default() {
        assert!(users_xml(&[]).contains("<password></password>"));
        let users = users_xml(&[
            ClickHouseUser {
                name: "writer".to_owned(),
                password_sha256_hex: "ab12".to_owned(),
                access: Access::ReadWrite,
                databases: vec!["market<prism".to_owned()],
            },
            ClickHouseUser {
                name: "reader".to_owned(),
                password_sha256_hex: "cd34".to_owned(),
                access: Access::ReadOnly,
                databases: Vec::new(),
            },
        ]);
        assert!(!users.contains("<password>"), "{users}");
        assert!(!users.contains("<default>\n      <password"), "{users}");
        assert!(users.contains("<writer>\n      <password_sha256_hex>ab12</password_sha256_hex>"));
        assert!(users.contains("<profile>default</profile>"));
        assert!(users
            .contains("<allow_databases><database>market&lt;prism</database></allow_databases>"));
        let reader = &users[users.find("<reader>").expect("reader")..];
        assert!(reader.contains("<profile>marketprism_readonly</profile>"));
        assert!(!reader.contains("allow_databases"));
    }

    #[test]
    fn a_users_d_file_replaces_users_of_the_same_name() {
        let file = users_d_xml(&[ClickHouseUser {
            name: "default".to_owned(),
            password_sha256_hex: "ab12".to_owned(),
            access: Access::ReadWrite,
            databases: Vec::new(),
        }]);
        assert!(file.starts_with("<yandex>"), "{file}");
        assert!(file.contains(r#"<default replace="replace">"#), "{file}");
        assert!(file.contains("<marketprism_readonly>"), "{file}");
        assert!(!file.contains("<password>"), "{file}");
    }
}
