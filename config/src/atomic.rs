//! Replacing a file so that a crash at any point leaves either the old or the new
//! content, and where the file era kept a config's history.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes`: write a temp file in the same directory (mode 0600),
/// fsync it, rename it over `path`, fsync the directory. A bare file name's directory is
/// the working directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Where versions of `config_path` were kept before the state store held them
/// (`.switchyard.yaml.history/` beside `switchyard.yaml`); imported once at start-up.
pub fn file_era_history_dir(config_path: &Path) -> PathBuf {
    let name = config_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = match config_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    dir.join(format!(".{name}.history"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_is_written_in_the_working_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cwd = std::env::current_dir().expect("cwd");
        std::env::set_current_dir(dir.path()).expect("chdir");
        let written = write_atomically(Path::new("config.yaml"), b"x: 1\n");
        std::env::set_current_dir(cwd).expect("chdir back");
        written.expect("a bare file name is fine");
        assert_eq!(fs::read(dir.path().join("config.yaml")).expect("read"), b"x: 1\n");
        assert_eq!(file_era_history_dir(Path::new("c.yaml")), Path::new("./.c.yaml.history"));
    }
}
