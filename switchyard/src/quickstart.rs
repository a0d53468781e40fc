//! `switchyard serve` without `--config` (SPEC §12, last lines): the quick start.
//!
//! Writes `./switchyard-data/quickstart.yaml` — the embedded quick-start config with a
//! one-time admin token (its SHA-256 only) and, when a `clickhouse-server` binary is
//! installed, a private ClickHouse started under `./switchyard-data/clickhouse/` on free
//! loopback ports — and serves that file, so the console and the control API can edit it.
//! The file is rewritten at every start (copy it elsewhere to keep changes); its paths
//! (spool, state store) are absolute, into `./switchyard-data/`. Without
//! `SWITCHYARD_MASTER_KEY` a key of its own in `./switchyard-data/master.key` seals the
//! provider keys set in the console. Once serving, [`QuickStart::announce`]
//! prints the console's address and the token on stdout.
//!
//! `SWITCHYARD_QUICKSTART_CLICKHOUSE=off` skips ClickHouse even when it is installed.
//!
//! Invariant: the token is printed once and stored nowhere in clear; it signs in only
//! until the next start rewrites the file.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use switchyard_config::QUICKSTART_YAML;

/// The quick start's data directory.
pub const DATA_DIR: &str = "switchyard-data";

/// A prepared quick start: its config file, token and private ClickHouse (if any).
pub struct QuickStart {
    /// The generated config file.
    pub config: PathBuf,
    token: String,
    clickhouse: Option<Child>,
    clickhouse_url: Option<String>,
}

// === impl QuickStart ===

impl QuickStart {
    /// Writes the config (starting ClickHouse first when it is installed).
    pub fn prepare() -> Result<Self, String> {
        let dir = PathBuf::from(DATA_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let token = random_token().map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
        let wanted = std::env::var("SWITCHYARD_QUICKSTART_CLICKHOUSE").map_or(true, |v| v != "off");
        let (clickhouse, clickhouse_url) = match server_bin().filter(|_| wanted) {
            Some(bin) => match start_clickhouse(&bin, &dir.join("clickhouse")) {
                Ok((child, url)) => (Some(child), Some(url)),
                Err(e) => {
                    eprintln!("quick start: the private ClickHouse did not start ({e}); records stay in the spool");
                    (None, None)
                }
            },
            None if !wanted => (None, None),
            None => {
                eprintln!(
                    "quick start: no clickhouse-server found, so records stay in ./{DATA_DIR}/spool and the console \
                     has no analytics. Install it (Debian/Ubuntu: `apt-get install clickhouse-server`) and start again."
                );
                (None, None)
            }
        };
        master_key(&dir)?;
        let config = dir.join("quickstart.yaml");
        let abs = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
        let yaml = render(&token, clickhouse_url.as_deref(), &abs);
        write_atomically(&config, &yaml).map_err(|e| format!("{}: {e}", config.display()))?;
        Ok(Self { config, token, clickhouse, clickhouse_url })
    }

    /// Prints the console's address and the one-time token (stdout).
    pub fn announce(&self, admin: SocketAddr) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Switchyard quick start");
        let _ = writeln!(out, "  console:          http://{admin}/ui/");
        let _ = writeln!(out, "  admin token:      {}   (one-time: valid until the next start)", self.token);
        match &self.clickhouse_url {
            Some(url) => {
                let _ = writeln!(out, "  ClickHouse:       {url} (private, under ./{DATA_DIR}/clickhouse)");
            }
            None => {
                let _ = writeln!(out, "  ClickHouse:       none (records stay in ./{DATA_DIR}/spool)");
            }
        }
        let _ = writeln!(out, "  config:           {}", self.config.display());
        let _ = out.flush();
    }

    /// Stops the private ClickHouse, if one was started.
    pub fn stop(mut self) {
        if let Some(mut child) = self.clickhouse.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let until = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The quick-start YAML: the embedded config with absolute paths into the data directory
/// `dir` (the spool and the state store), the token's hash, and ClickHouse when there is one.
fn render(token: &str, clickhouse: Option<&str>, dir: &Path) -> String {
    let d = dir.display().to_string().replace('\\', "/").replace('"', "");
    let mut yaml = QUICKSTART_YAML.replace("./switchyard-data/spool", &format!("\"{d}/spool\""));
    if let Some(url) = clickhouse {
        yaml.push_str(&format!("  clickhouse: {{ url: \"{url}\", database: switchyard }}\n"));
    }
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    yaml.push_str(&format!(
        "\nstate: {{ url: \"sqlite://{d}/state.db\" }}\n\nadmin:\n  tokens: [ {{ name: quickstart, token_sha256: \"{hash}\", role: admin }} ]\n"
    ));
    yaml
}

/// Without `SWITCHYARD_MASTER_KEY`, the quick start keeps its own in
/// `./switchyard-data/master.key` (0600, made once) so keys set in the console can be
/// sealed. Runs before the runtime starts (no other thread reads the environment yet).
fn master_key(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    if std::env::var_os(switchyard_config::secret::MASTER_KEY_ENV).is_some() {
        return Ok(());
    }
    let path = dir.join("master.key");
    let key = match std::fs::read_to_string(&path) {
        Ok(k) => k.trim().to_owned(),
        Err(_) => {
            let mut bytes = [0u8; 32];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut bytes))
                .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
            let key = hex::encode(bytes);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            f.write_all(key.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
            key
        }
    };
    std::env::set_var(switchyard_config::secret::MASTER_KEY_ENV, key);
    Ok(())
}

fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(format!("sy_{}", hex::encode(bytes)))
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("yaml.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The installed `clickhouse-server` (Debian's package puts it in /usr/bin).
fn server_bin() -> Option<PathBuf> {
    let mut candidates =
        vec![PathBuf::from("/usr/sbin/clickhouse-server"), PathBuf::from("/usr/bin/clickhouse-server")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("clickhouse-server")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Starts ClickHouse with its files under `dir` on free loopback ports; waits until it
/// answers (60 s at most).
fn start_clickhouse(bin: &Path, dir: &Path) -> Result<(Child, String), String> {
    for sub in ["data", "tmp", "user_files", "log", "format_schemas"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
    }
    let dir = dir.canonicalize().map_err(|e| e.to_string())?;
    let [http, tcp, inter] = free_ports().map_err(|e| e.to_string())?;
    let d = dir.display();
    std::fs::write(dir.join("users.xml"), USERS_XML).map_err(|e| e.to_string())?;
    let config = CONFIG_XML
        .replace("{dir}", &d.to_string())
        .replace("{http}", &http.to_string())
        .replace("{tcp}", &tcp.to_string())
        .replace("{inter}", &inter.to_string());
    std::fs::write(dir.join("config.xml"), config).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("log/stdout.log")).map_err(|e| e.to_string())?;
    // Through util-linux's `setpriv --pdeathsig`, ClickHouse gets SIGTERM when this process
    // dies, even by SIGKILL, instead of living on.
    let setpriv = Path::new("/usr/bin/setpriv");
    let mut cmd = if setpriv.is_file() {
        let mut c = Command::new(setpriv);
        c.args(["--pdeathsig", "TERM", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let mut child = cmd
        .arg(format!("--config-file={d}/config.xml"))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], http));
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if pings(addr) {
            return Ok((child, format!("http://{addr}")));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}; see {d}/log/"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    Err(format!("it did not answer within 60 s; see {d}/log/"))
}

fn free_ports() -> std::io::Result<[u16; 3]> {
    let l = [TcpListener::bind("127.0.0.1:0")?, TcpListener::bind("127.0.0.1:0")?, TcpListener::bind("127.0.0.1:0")?];
    Ok([l[0].local_addr()?.port(), l[1].local_addr()?.port(), l[2].local_addr()?.port()])
}

/// Whether ClickHouse answers `GET /ping` with `Ok.`.
fn pings(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.ends_with("Ok.\n")
}

const CONFIG_XML: &str = r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{dir}/log/server.log</log><errorlog>{dir}/log/server.err.log</errorlog><size>50M</size><count>2</count></logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <interserver_http_port>{inter}</interserver_http_port>
    <max_connections>256</max_connections>
    <max_concurrent_queries>50</max_concurrent_queries>
    <uncompressed_cache_size>134217728</uncompressed_cache_size>
    <mark_cache_size>134217728</mark_cache_size>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>{dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
"#;

const USERS_XML: &str = r#"<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>1000000000</max_memory_usage></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_config_is_valid_and_holds_only_the_tokens_hash() {
        let yaml = render("sy_secret", Some("http://127.0.0.1:1"), Path::new("/srv/sy data"));
        assert!(!yaml.contains("sy_secret\""), "{yaml}");
        assert!(yaml.contains(&hex::encode(Sha256::digest(b"sy_secret"))));
        let cfg = switchyard_config::validate::parse(&yaml).expect("parses");
        switchyard_config::validate::validate(&cfg).expect("valid");
        assert_eq!(cfg.admin.tokens.len(), 1);
        assert_eq!(cfg.records.spool.dir, "/srv/sy data/spool");
        assert_eq!(cfg.state.url, "sqlite:///srv/sy data/state.db");
    }
}
