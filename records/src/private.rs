//! Files and directories only the gateway's user may read: spool segments, the ack
//! ledger and the dead-letter file hold inference records (with `log_bodies`, prompts and
//! answers). Directories are created 0700 and files 0600 whatever the umask; what an
//! operator created beforehand keeps its mode. Elsewhere (not Unix) these are the plain
//! calls.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::Path;

/// `create_dir_all` with mode 0700 for every directory it creates.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Options that create a file with mode 0600.
pub(crate) fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// `File::create` with mode 0600.
pub(crate) fn create(path: &Path) -> io::Result<File> {
    options().write(true).create(true).truncate(true).open(path)
}
