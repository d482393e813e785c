//! The `clickhouse-server` command line and its generated `config.xml` and `users.xml`,
//! optionally as a node of a replicated, sharded cluster ([`ClusterMembership`]).
//!
//! The XML files are rendered from the typed [`ClickHouseSpec`] with a template: the
//! workspace has no serde XML crate, and the files are small and fixed apart from the ports
//! and paths, which are escaped.

use std::fs::Permissions;
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Credentials;

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
    /// The cluster the server is a node of; none for a server on its own.
    pub cluster: Option<&'a ClusterMembership>,
}

/// A host and a port, e.g. a node's native protocol (TCP) port or a ZooKeeper client port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// What makes a server a node of a cluster: the cluster's layout (`remote_servers`), the
/// node's own place in it (`macros`), where replicas fetch parts from it (the interserver
/// HTTP port) and the ZooKeeper ensemble that coordinates replication and `ON CLUSTER`
/// queries (`distributed_ddl`).
///
/// Every node of a cluster gets the same `name`, `shards` and `zookeeper`; `shard` and
/// `replica` differ. Shards replicate internally (`internal_replication`): a `Distributed`
/// table writes each row to one replica of its shard and the `Replicated*MergeTree` tables
/// copy it to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMembership {
    /// The cluster's name, as `ON CLUSTER` and `Distributed` tables name it.
    pub name: String,
    /// Each shard's replicas: their host and native protocol (TCP) port.
    pub shards: Vec<Vec<Endpoint>>,
    /// This node's `{shard}` macro, e.g. `01`.
    pub shard: String,
    /// This node's `{replica}` macro, unique within its shard, e.g. the host name.
    pub replica: String,
    /// The port other replicas fetch this node's parts from.
    pub interserver_http_port: u16,
    /// The ZooKeeper servers.
    pub zookeeper: Vec<Endpoint>,
    /// How long ZooKeeper keeps the session of a node that stopped answering, in
    /// milliseconds (ZooKeeper grants 4 000 to 40 000 with its default tick): a node that
    /// crashed is seen as gone, and may come back under its name, after this long.
    pub zookeeper_session_timeout_ms: u32,
    /// The user a node logs in as on the others, for `Distributed` tables; none for
    /// `default` without a password. Its password is written into `config.xml`, which is
    /// then readable by its owner only.
    pub login: Option<Credentials>,
}

impl ClusterMembership {
    /// The `config.xml` elements of the membership. The interserver host is loopback, as
    /// the server listens there only.
    fn config_xml(&self) -> String {
        let login = self
            .login
            .as_ref()
            .map(|login| {
                format!(
                    "<user>{}</user><password>{}</password>",
                    escape(&login.user),
                    escape(&login.password)
                )
            })
            .unwrap_or_default();
        let shards: String = self
            .shards
            .iter()
            .map(|replicas| {
                let replicas: String = replicas
                    .iter()
                    .map(|replica| {
                        format!(
                            "\n        <replica><host>{}</host><port>{}</port>{login}</replica>",
                            escape(&replica.host),
                            replica.port
                        )
                    })
                    .collect();
                format!(
                    "\n      <shard>\n        <internal_replication>true</internal_replication>{replicas}\n      </shard>"
                )
            })
            .collect();
        let zookeeper: String = self
            .zookeeper
            .iter()
            .map(|node| {
                format!(
                    "\n    <node><host>{}</host><port>{}</port></node>",
                    escape(&node.host),
                    node.port
                )
            })
            .collect();
        format!(
            r#"  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>{interserver}</interserver_http_port>
  <remote_servers>
    <{name}>{shards}
    </{name}>
  </remote_servers>
  <macros>
    <shard>{shard}</shard>
    <replica>{replica}</replica>
  </macros>
  <zookeeper>{zookeeper}
    <session_timeout_ms>{session}</session_timeout_ms>
  </zookeeper>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
"#,
            interserver = self.interserver_http_port,
            name = escape(&self.name),
            shard = escape(&self.shard),
            replica = escape(&self.replica),
            session = self.zookeeper_session_timeout_ms,
        )
    }
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
{cluster}</yandex>
"#,
            http_port = self.http_port,
            tcp_port = self.tcp_port,
            cluster = self
                .cluster
                .map(ClusterMembership::config_xml)
                .unwrap_or_default(),
        )
    }

    /// Writes both files; an error names the file or directory that failed.
    fn write_config(&self) -> io::Result<PathBuf> {
        std::fs::create_dir_all(self.dir).map_err(naming("create", self.dir))?;
        let config_path = self.dir.join("config.xml");
        // Owner only: a cluster node's configuration holds the password it logs in with.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&config_path)
            .and_then(|mut file| file.write_all(self.config_xml().as_bytes()))
            .and_then(|()| std::fs::set_permissions(&config_path, Permissions::from_mode(0o600)))
            .map_err(naming("write", &config_path))?;
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
            cluster: None,
        };
        let config = spec.config_xml();
        assert!(config.contains("<http_port>8123</http_port>"));
        assert!(config.contains("<tcp_port>9000</tcp_port>"));
        assert!(config.contains("<path>/state/a&amp;b/data/</path>"));
        assert!(!config.contains("remote_servers"), "{config}");
    }

    #[test]
    fn a_cluster_node_names_its_shards_macros_and_zookeeper() {
        let endpoint = |port| Endpoint {
            host: "127.0.0.1".to_owned(),
            port,
        };
        let membership = ClusterMembership {
            name: "marketprism".to_owned(),
            shards: vec![
                vec![endpoint(9001), endpoint(9002)],
                vec![endpoint(9003), endpoint(9004)],
            ],
            shard: "02".to_owned(),
            replica: "r<1>".to_owned(),
            interserver_http_port: 9010,
            zookeeper: vec![endpoint(2181)],
            zookeeper_session_timeout_ms: 10_000,
            login: None,
        };
        let spec = ClickHouseSpec {
            http_port: 8123,
            tcp_port: 9003,
            dir: Path::new("/state"),
            users: &[],
            cluster: Some(&membership),
        };
        let config = spec.config_xml();
        let shard = |first: u16, second: u16| {
            format!(
                "<shard>\n        <internal_replication>true</internal_replication>\n        \
                 <replica><host>127.0.0.1</host><port>{first}</port></replica>\n        \
                 <replica><host>127.0.0.1</host><port>{second}</port></replica>\n      </shard>"
            )
        };
        assert!(
            config.contains(&format!(
                "<remote_servers>\n    <marketprism>\n      {}\n      {}\n    </marketprism>\n  </remote_servers>",
                shard(9001, 9002),
                shard(9003, 9004)
            )),
            "{config}"
        );
        assert!(config.contains("<shard>02</shard>\n    <replica>r&lt;1&gt;</replica>"));
        assert!(config.contains("<interserver_http_port>9010</interserver_http_port>"));
        assert!(config.contains(
            "<zookeeper>\n    <node><host>127.0.0.1</host><port>2181</port></node>\n    <session_timeout_ms>10000</session_timeout_ms>\n  </zookeeper>"
        ));
        assert!(config.contains(
            "<distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>"
        ));
        assert!(config.trim_end().ends_with("</yandex>"));
    }

    #[test]
    fn a_node_logging_in_to_the_others_keeps_its_password_to_its_owner() {
        let dir = tempfile::tempdir().expect("dir");
        let membership = ClusterMembership {
            name: "marketprism".to_owned(),
            shards: vec![vec![Endpoint {
                host: "127.0.0.1".to_owned(),
                port: 9000,
            }]],
            shard: "01".to_owned(),
            replica: "r1".to_owned(),
            interserver_http_port: 9009,
            zookeeper: Vec::new(),
            zookeeper_session_timeout_ms: 10_000,
            login: Some(Credentials {
                user: "storage".to_owned(),
                password: "p<w>".to_owned(),
            }),
        };
        let spec = ClickHouseSpec {
            http_port: 8123,
            tcp_port: 9000,
            dir: dir.path(),
            users: &[],
            cluster: Some(&membership),
        };
        spec.command(Path::new("/usr/sbin/clickhouse-server"))
            .expect("configured");
        let path = dir.path().join("config.xml");
        let config = std::fs::read_to_string(&path).expect("read");
        assert!(
            config.contains(
                "<replica><host>127.0.0.1</host><port>9000</port><user>storage</user><password>p&lt;w&gt;</password></replica>"
            ),
            "{config}"
        );
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
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
            cluster: None,
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
            cluster: None,
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
