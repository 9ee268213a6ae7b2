//! The reading connection: one socket to a shard's primary, spoken to in
//! RESP2 with the replies read in place (see [`super::resp`]).
//!
//! It does one exchange at a time: all of a pipeline's commands are
//! written, then all their replies read. An exchange cut off half way (a
//! timeout, a dropped future) leaves replies in flight that nothing will
//! match to their commands, so the connection refuses further use and the
//! worker connects again.

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::SourceError;
use super::resp::{Commands, Item, Replies, Scanner};

trait Socket: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Socket for T {}

/// Bytes asked of the socket at a time (grown when a reply is larger).
const READ_CHUNK: usize = 64 * 1024;

/// A connection for pipelined reads whose replies are parsed in place.
pub struct WireConnection {
    socket: Box<dyn Socket>,
    /// Bytes received: replies of the current exchange from `start`, and
    /// whatever came after them.
    buf: Vec<u8>,
    start: usize,
    /// The longest an exchange may wait for its replies, on top of what a
    /// blocking command asks for.
    response_timeout: Duration,
    /// An exchange was cut off: replies may still be on their way.
    broken: bool,
    /// The database selected.
    db: i64,
}

impl WireConnection {
    /// Connects to the server `url` names (`redis://[user:password@]host[:port][/db]`
    /// or `unix://path`), authenticates and selects the database.
    pub async fn connect(
        url: &str,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<WireConnection, SourceError> {
        let info: ConnectionInfo = url.into_connection_info()?;
        let socket: Box<dyn Socket> = match &info.addr {
            ConnectionAddr::Tcp(host, port) => {
                let stream = tokio::time::timeout(
                    connect_timeout,
                    TcpStream::connect((host.as_str(), *port)),
                )
                .await
                .map_err(|_| SourceError::TimedOut("connecting"))?
                .map_err(|e| SourceError::io("connecting", e))?;
                stream
                    .set_nodelay(true)
                    .map_err(|e| SourceError::io("connecting", e))?;
                Box::new(stream)
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => {
                let stream =
                    tokio::time::timeout(connect_timeout, tokio::net::UnixStream::connect(path))
                        .await
                        .map_err(|_| SourceError::TimedOut("connecting"))?
                        .map_err(|e| SourceError::io("connecting", e))?;
                Box::new(stream)
            }
            other => {
                return Err(SourceError::Unsupported(format!(
                    "connecting to {other}: TLS is not supported by this build"
                )))
            }
        };
        let mut con = WireConnection {
            socket,
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
            response_timeout,
            broken: false,
            db: info.redis.db,
        };
        con.handshake(&info).await?;
        Ok(con)
    }

    async fn handshake(&mut self, info: &ConnectionInfo) -> Result<(), SourceError> {
        let mut setup = Commands::new();
        if let Some(password) = &info.redis.password {
            match &info.redis.username {
                Some(user) => setup.push(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => setup.push(&[b"AUTH", password.as_bytes()]),
            };
        }
        if info.redis.db != 0 {
            setup.push(&[b"SELECT", info.redis.db.to_string().as_bytes()]);
        }
        if setup.is_empty() {
            return Ok(());
        }
        let count = setup.len();
        let mut replies = self.exchange(&setup, Duration::ZERO).await?;
        for _ in 0..count {
            match replies.next_item()? {
                Item::Simple(_) => {}
                Item::Error(e) => return Err(SourceError::server("AUTH or SELECT", e)),
                other => return Err(SourceError::unexpected("AUTH or SELECT", other)),
            }
        }
        Ok(())
    }

    /// Sends `commands` and waits for all their replies, at most `blocking`
    /// (what a blocking command among them may wait) plus the response
    /// timeout. The replies are read from the returned [`Replies`], in the
    /// order of the commands.
    pub async fn exchange(
        &mut self,
        commands: &Commands,
        blocking: Duration,
    ) -> Result<Replies<'_>, SourceError> {
        if self.broken {
            return Err(SourceError::io(
                "reading",
                std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "an earlier exchange was cut off",
                ),
            ));
        }
        // The previous exchange's replies are done with.
        self.buf.drain(..self.start);
        self.start = 0;
        self.broken = true;
        let limit = blocking + self.response_timeout;
        let len = tokio::time::timeout(limit, self.send_and_receive(commands))
            .await
            .map_err(|_| SourceError::TimedOut("waiting for replies"))??;
        self.broken = false;
        self.start = len;
        Ok(Replies::new(&self.buf[..len]))
    }

    /// Writes the commands and reads until every reply is whole; returns
    /// the replies' length in the buffer.
    async fn send_and_receive(&mut self, commands: &Commands) -> Result<usize, SourceError> {
        self.socket
            .write_all(commands.as_bytes())
            .await
            .map_err(|e| SourceError::io("sending", e))?;
        let mut scanner = Scanner::default();
        loop {
            if let Some(len) = scanner.scan(&self.buf, commands.len())? {
                return Ok(len);
            }
            let filled = self.buf.len();
            if self.buf.capacity() - filled < READ_CHUNK / 4 {
                self.buf.reserve(self.buf.capacity().max(READ_CHUNK));
            }
            let read = self
                .socket
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| SourceError::io("reading", e))?;
            if read == 0 {
                return Err(SourceError::io(
                    "reading",
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ),
                ));
            }
        }
    }
}

/// The same connection for redis-rs commands and pipelines (the engine's
/// own keys: dead letters, acknowledgements), whose few replies are worth
/// the convenience of its types.
impl redis::aio::ConnectionLike for WireConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut values = self.packed(cmd.get_packed_command(), 0, 1).await?;
            values
                .pop()
                .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::ParseError, "no reply")))
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.packed(pipeline.get_packed_pipeline(), offset, count)
                .await
        })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

impl WireConnection {
    /// Sends already encoded commands; returns replies `offset..offset + count`.
    async fn packed(
        &mut self,
        bytes: Vec<u8>,
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<Value>> {
        let commands = Commands::from_encoded(bytes, offset + count);
        let mut replies = self
            .exchange(&commands, Duration::ZERO)
            .await
            .map_err(into_redis_error)?;
        let mut values = Vec::with_capacity(count);
        for i in 0..offset + count {
            if i < offset {
                replies.skip().map_err(|e| into_redis_error(e.into()))?;
            } else {
                values.push(value(&mut replies)?);
            }
        }
        Ok(values)
    }
}

/// One whole reply as a redis-rs value.
fn value(replies: &mut Replies<'_>) -> redis::RedisResult<Value> {
    let item = replies
        .next_item()
        .map_err(|e| into_redis_error(e.into()))?;
    Ok(match item {
        Item::Simple(b"OK") => Value::Okay,
        Item::Simple(s) => Value::SimpleString(String::from_utf8_lossy(s).into_owned()),
        Item::Error(e) => server_error(e)?,
        Item::Integer(n) => Value::Int(n),
        Item::Bulk(b) => Value::BulkString(b.to_vec()),
        Item::Array(n) => Value::Array((0..n).map(|_| value(replies)).collect::<Result<_, _>>()?),
        Item::Nil => Value::Nil,
    })
}

/// An error reply as redis-rs classifies it (its parser, given the line
/// back), so that its kinds (a server loading, a failover) mean what they
/// mean on its own connections.
fn server_error(error: &[u8]) -> redis::RedisResult<Value> {
    let mut line = Vec::with_capacity(error.len() + 3);
    line.push(b'-');
    line.extend_from_slice(error);
    line.extend_from_slice(b"\r\n");
    redis::parse_redis_value(&line)
}

/// A failed exchange as a redis-rs error of the same class (an I/O error
/// stays one, so it still reads as a dropped connection).
fn into_redis_error(e: SourceError) -> redis::RedisError {
    match e {
        SourceError::Redis(e) => e,
        SourceError::Io { error, .. } => error.into(),
        SourceError::TimedOut(what) => {
            std::io::Error::new(std::io::ErrorKind::TimedOut, format!("timed out {what}")).into()
        }
        other => redis::RedisError::from((
            redis::ErrorKind::ParseError,
            "reading a reply",
            other.to_string(),
        )),
    }
}
