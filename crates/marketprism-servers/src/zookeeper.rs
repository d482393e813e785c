//! A standalone ZooKeeper for ClickHouse replication: finding Java and Debian's ZooKeeper
//! jars ([`ZooKeeperInstall`]), writing `zoo.cfg` and the foreground command
//! ([`ZooKeeperSpec`]).
//!
//! Debian's `zookeeper` package puts the server in `/usr/share/java/zookeeper.jar`, whose
//! manifest lists its dependencies' jars in `/usr/share/java` (so the jar alone is the
//! classpath), and its example configuration in `/etc/zookeeper/conf`; its init scripts run
//! `org.apache.zookeeper.server.quorum.QuorumPeerMain`. A standalone server is
//! `org.apache.zookeeper.server.ZooKeeperServerMain`, run here in the foreground. The jar
//! has no logging backend: `slf4j-simple` (Debian's `libslf4j-java`, which the package
//! pulls) is added when present, so the log shows the server's messages on stderr.

use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where Debian's package installs the ZooKeeper server jar.
const DEBIAN_JAR: &str = "/usr/share/java/zookeeper.jar";

/// A logging backend for the jar's slf4j, on Debian.
const DEBIAN_SLF4J_SIMPLE: &str = "/usr/share/java/slf4j-simple.jar";

/// The standalone server's main class.
const MAIN_CLASS: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";

/// ZooKeeper's time unit, in milliseconds: sessions it grants last 2 to 20 ticks (4 s to
/// 40 s).
const ZOOKEEPER_TICK_MS: u32 = 2000;

/// Java or the ZooKeeper jar is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZooKeeperError {
    /// No `java` on `PATH`, in `JAVA_HOME` or in `/usr/bin`.
    #[error("no java found on PATH, in JAVA_HOME or /usr/bin; install a JRE (Debian: `apt-get install zookeeper` pulls one)")]
    NoJava,
    /// The ZooKeeper server jar does not exist.
    #[error("{} does not exist; install ZooKeeper (Debian: `apt-get install zookeeper`) or name its jar in MARKETPRISM_ZOOKEEPER_JAR", jar.display())]
    NoJar {
        /// Where it was looked for.
        jar: PathBuf,
    },
}

/// Java and the ZooKeeper jars, found where Debian installs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZooKeeperInstall {
    /// The `java` executable.
    pub java: PathBuf,
    /// The classpath: the server jar, then a logging backend when present.
    pub classpath: Vec<PathBuf>,
}

impl ZooKeeperInstall {
    /// Finds `java` (on `PATH`, in `$JAVA_HOME/bin`, in `/usr/bin`) and the server jar
    /// (`$MARKETPRISM_ZOOKEEPER_JAR`, else Debian's).
    pub fn find() -> Result<Self, ZooKeeperError> {
        let java = find_java().ok_or(ZooKeeperError::NoJava)?;
        let jar = std::env::var_os("MARKETPRISM_ZOOKEEPER_JAR")
            .filter(|value| !value.is_empty())
            .map_or_else(|| PathBuf::from(DEBIAN_JAR), PathBuf::from);
        if !jar.is_file() {
            return Err(ZooKeeperError::NoJar { jar });
        }
        let mut classpath = vec![jar];
        let logging = Path::new(DEBIAN_SLF4J_SIMPLE);
        if logging.is_file() {
            classpath.push(logging.to_owned());
        }
        Ok(ZooKeeperInstall { java, classpath })
    }
}

/// The first `java` on `PATH`, in `$JAVA_HOME/bin` or `/usr/bin`.
fn find_java() -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let java_home = std::env::var_os("JAVA_HOME").map(|home| PathBuf::from(home).join("bin"));
    path_dirs
        .into_iter()
        .chain(java_home)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("java"))
        .find(|candidate| candidate.is_file())
}

/// A standalone ZooKeeper listening on `127.0.0.1:client_port`, its configuration and data
/// under `dir`, with the admin server (an HTTP port of its own) off and the `ruok` and
/// `srvr` four-letter commands on, for readiness checks.
#[derive(Debug, Clone)]
pub struct ZooKeeperSpec<'a> {
    /// The client port ClickHouse connects to.
    pub client_port: u16,
    /// Configuration (`zoo.cfg`) and data (`data/`) directory.
    pub dir: &'a Path,
}

impl ZooKeeperSpec<'_> {
    /// Writes `zoo.cfg` and returns the command running the server in the foreground.
    pub fn command(&self, install: &ZooKeeperInstall) -> io::Result<Command> {
        let data = self.dir.join("data");
        std::fs::create_dir_all(&data).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot create {}: {error}", data.display()),
            )
        })?;
        let config = self.dir.join("zoo.cfg");
        std::fs::write(&config, self.zoo_cfg()).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot write {}: {error}", config.display()),
            )
        })?;
        let classpath = std::env::join_paths(&install.classpath)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let mut command = Command::new(&install.java);
        command
            .arg("-cp")
            .arg(classpath)
            // A small heap: the tree holds replication logs, not data.
            .args([
                "-Xmx256m",
                "-Dzookeeper.admin.enableServer=false",
                MAIN_CLASS,
            ])
            .arg(&config)
            .current_dir(self.dir);
        Ok(command)
    }

    /// The configuration file.
    fn zoo_cfg(&self) -> String {
        format!(
            "tickTime={ZOOKEEPER_TICK_MS}\n\
             dataDir={data}\n\
             clientPort={port}\n\
             clientPortAddress=127.0.0.1\n\
             maxClientCnxns=0\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=ruok,srvr\n\
             autopurge.snapRetainCount=3\n\
             autopurge.purgeInterval=1\n",
            data = self.dir.join("data").display(),
            port = self.client_port,
        )
    }
}

/// The mode (`standalone`, `leader`, `follower`) of the ZooKeeper on `127.0.0.1:port` as
/// its `srvr` command reports it, asked within `timeout`; `None` while it does not serve
/// clients (it answers "not currently serving requests" then) or does not answer.
pub(crate) fn mode(port: u16, timeout: Duration) -> Option<String> {
    let timeout = timeout.max(Duration::from_millis(100));
    let mut stream =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(b"srvr").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer
        .lines()
        .find_map(|line| line.strip_prefix("Mode: "))
        .map(|mode| mode.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_names_the_port_and_data_and_turns_the_admin_server_off() {
        let dir = tempfile::tempdir().expect("dir");
        let spec = ZooKeeperSpec {
            client_port: 2181,
            dir: dir.path(),
        };
        let install = ZooKeeperInstall {
            java: PathBuf::from("/usr/bin/java"),
            classpath: vec![PathBuf::from("/a.jar"), PathBuf::from("/b.jar")],
        };
        let command = spec.command(&install).expect("writes");
        let config = std::fs::read_to_string(dir.path().join("zoo.cfg")).expect("zoo.cfg");
        assert!(config.contains("clientPort=2181\n"), "{config}");
        assert!(config.contains("clientPortAddress=127.0.0.1\n"), "{config}");
        assert!(config.contains("admin.enableServer=false\n"), "{config}");
        assert!(
            config.contains(&format!("dataDir={}\n", dir.path().join("data").display())),
            "{config}"
        );
        assert!(dir.path().join("data").is_dir());
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args[0], "-cp");
        assert_eq!(args[1], "/a.jar:/b.jar");
        assert_eq!(args[args.len() - 2], MAIN_CLASS);
        assert_eq!(args[args.len() - 1], dir.path().join("zoo.cfg").as_os_str());
    }
}
