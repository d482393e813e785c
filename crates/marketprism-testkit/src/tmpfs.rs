//! A small tmpfs for tests that fill a disk: mounted on a temporary directory and unmounted
//! (lazily, so nothing holding a file blocks it) when dropped. Mounting needs root; CI runs
//! as root, so there a failed mount fails the test, while elsewhere the test is reported as
//! not run.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::statvfs;
use tempfile::TempDir;

/// A mounted tmpfs.
#[derive(Debug)]
pub struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel).
    pub fn mount(bytes: u64) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("tmpfs-").tempdir()?;
        mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(format!("size={bytes},mode=0755").as_str()),
        )?;
        Ok(Tmpfs { dir })
    }

    /// Mounts a tmpfs of `bytes`, or says why a test needing one cannot run here and returns
    /// `None`. Under CI (`CI` set) a failed mount panics: CI must run these tests.
    pub fn mount_or_explain(bytes: u64, test: &str) -> Option<Self> {
        match Tmpfs::mount(bytes) {
            Ok(tmpfs) => Some(tmpfs),
            Err(error) if std::env::var_os("CI").is_none() => {
                eprintln!(
                    "NOT RUN: {test} needs to mount a tmpfs (root): {error}; CI runs it as root"
                );
                None
            }
            Err(error) => panic!("{test}: cannot mount a tmpfs under CI: {error}"),
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file of zeros until the filesystem is full, then returns its path: removing
    /// it frees the space again.
    pub fn fill(&self) -> io::Result<PathBuf> {
        self.fill_leaving(0)
    }

    /// Writes a file of zeros until at most `free` bytes are left (none: until the
    /// filesystem is full), then returns its path: removing it frees the space again.
    pub fn fill_leaving(&self, free: u64) -> io::Result<PathBuf> {
        const CHUNK: usize = 64 * 1024;
        let path = self.path().join("filler");
        let mut file = File::create(&path)?;
        let chunk = vec![0_u8; CHUNK];
        loop {
            let stats = statvfs(self.path())?;
            let available = stats.blocks_available() * stats.fragment_size();
            if available <= free {
                return Ok(path);
            }
            let wanted = usize::try_from(available - free).map_or(CHUNK, |left| left.min(CHUNK));
            match file.write(&chunk[..wanted]) {
                Ok(0) => return Ok(path),
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(nix::libc::ENOSPC) => return Ok(path),
                Err(error) => return Err(error),
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Detached so a server still holding files cannot keep it mounted; the directory is
        // removed by `TempDir` once the mount is gone.
        let _ = umount2(self.dir.path(), MntFlags::MNT_DETACH);
    }
}
