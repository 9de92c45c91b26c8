//! A loopback HTTP/1.1 proxy that breaks things on purpose, for error-case tests only
//! (the happy path talks to Azurite directly).
//!
//! Point a client at [`FaultProxy::endpoint`] instead of Azurite's. Each client
//! connection carries one request: the proxy forwards it with `Connection: close`, so
//! Azurite closes after answering and the client opens a new connection for the next
//! request. That keeps the per-request accounting trivial.
//!
//! The proxy runs on its own thread with its own Tokio runtime, so it works under any
//! test runtime, and stops when dropped.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What to break. Counters ("the first N …") start when the faults are set.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer this many requests with `503 Server Busy` instead of forwarding them.
    pub fail_first: u32,
    /// Reset the connection (TCP RST) of this many GET requests that carry a range header…
    pub reset_ranged_gets: u32,
    /// …after forwarding this many bytes of the response body.
    pub reset_after_body_bytes: u64,
    /// Wait this long before forwarding each request.
    pub latency: Duration,
    /// Close the listening socket, so that connections are refused (a dropped network).
    pub refuse_connections: bool,
    /// Pass response bodies on at about this many bytes per second per connection
    /// (0: as fast as they come), so that a long download can be interrupted.
    pub body_bytes_per_second: u64,
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    /// The request target (path and query) as sent; may contain a SAS.
    pub target: String,
    /// Whether it carried `Range` or `x-ms-range`.
    pub ranged: bool,
    /// What the proxy did with it.
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Forwarded,
    Answered503,
    ResetMidBody,
    UpstreamUnreachable,
}

#[derive(Debug, Default)]
struct Budget {
    fail_left: u32,
    reset_left: u32,
}

struct Shared {
    faults: Mutex<Faults>,
    budget: Mutex<Budget>,
    seen: Mutex<Vec<SeenRequest>>,
    body_bytes_forwarded: AtomicU64,
    /// Whether the listening socket is open, for `set_faults` to wait on.
    listening: AtomicBool,
}

/// A running fault proxy. Dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    refuse: watch::Sender<bool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (e.g. Azurite's address).
    pub fn start(upstream: SocketAddr, faults: Faults) -> anyhow::Result<FaultProxy> {
        let std_listener =
            std::net::TcpListener::bind(("127.0.0.1", 0)).context("binding the fault proxy")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Arc::new(Shared {
            budget: Mutex::new(Budget {
                fail_left: faults.fail_first,
                reset_left: faults.reset_ranged_gets,
            }),
            faults: Mutex::new(faults.clone()),
            seen: Mutex::default(),
            body_bytes_forwarded: AtomicU64::new(0),
            listening: AtomicBool::new(true),
        });
        let (refuse_tx, refuse_rx) = watch::channel(faults.refuse_connections);
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared_in_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener =
                        TcpListener::from_std(std_listener).expect("a fresh non-blocking listener");
                    tokio::select! {
                        _ = serve(listener, addr, upstream, shared_in_thread, refuse_rx) => {}
                        _ = shutdown_rx => {}
                    }
                });
            })?;
        let proxy = FaultProxy {
            addr,
            upstream,
            shared,
            refuse: refuse_tx,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        };
        proxy.wait_until_refusing(faults.refuse_connections);
        Ok(proxy)
    }

    /// The blob endpoint through the proxy: `http://127.0.0.1:<port>/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/{}", self.addr, crate::azurite::ACCOUNT)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Replaces the faults and restarts their counters (e.g. to drop the network mid-test).
    /// Returns once connections are refused or accepted as asked.
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.budget.lock().unwrap() = Budget {
            fail_left: faults.fail_first,
            reset_left: faults.reset_ranged_gets,
        };
        let refuse = faults.refuse_connections;
        *self.shared.faults.lock().unwrap() = faults;
        let _ = self.refuse.send(refuse);
        self.wait_until_refusing(refuse);
    }

    fn wait_until_refusing(&self, refuse: bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self.shared.listening.load(Ordering::SeqCst) == refuse
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.seen.lock().unwrap().len()
    }

    /// Response body bytes passed on to clients (all requests).
    pub fn body_bytes_forwarded(&self) -> u64 {
        self.shared.body_bytes_forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts connections; while refusing, the listening socket is closed and bound again
/// on the same port afterwards.
async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    mut refuse: watch::Receiver<bool>,
) {
    let mut listener = Some(listener);
    loop {
        let refusing = *refuse.borrow_and_update();
        if refusing {
            listener = None;
        } else if listener.is_none() {
            // Connections are refused until this succeeds.
            match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        shared.listening.store(listener.is_some(), Ordering::SeqCst);
        match &listener {
            None => {
                if refuse.changed().await.is_err() {
                    return;
                }
            }
            Some(l) => {
                tokio::select! {
                    accepted = l.accept() => {
                        if let Ok((client, _)) = accepted {
                            tokio::spawn(handle(client, upstream, shared.clone()));
                        }
                    }
                    changed = refuse.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

const MAX_HEAD: usize = 64 * 1024;
/// A throttled body is passed on in pieces of this size, each after its share of time.
const THROTTLE_PIECE: usize = 16 * 1024;

/// Reads until the end of an HTTP head. Returns the head (with the blank line) and any
/// bytes read past it.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some((buf, rest)));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("HTTP head too long"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct RequestHead {
    method: String,
    target: String,
    ranged: bool,
    content_length: u64,
    /// The head to send upstream, with `Connection: close`.
    forwarded: Vec<u8>,
}

fn parse_request_head(head: &[u8]) -> Option<RequestHead> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut ranged = false;
    let mut content_length = 0;
    let mut forwarded = format!("{request_line}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let lname = name.trim().to_ascii_lowercase();
        match lname.as_str() {
            "connection" | "keep-alive" | "proxy-connection" => continue,
            "range" | "x-ms-range" => ranged = true,
            "content-length" => content_length = value.trim().parse().ok()?,
            _ => {}
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    Some(RequestHead {
        method,
        target,
        ranged,
        content_length,
        forwarded: forwarded.into_bytes(),
    })
}

fn response_content_length(head: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })
}

async fn handle(mut client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let Ok(Some((head, mut early_body))) = read_head(&mut client).await else {
        return;
    };
    let Some(req) = parse_request_head(&head) else {
        return;
    };

    let (latency, rate) = {
        let f = shared.faults.lock().unwrap();
        (f.latency, f.body_bytes_per_second)
    };
    let (fail, reset_after) = {
        let faults = shared.faults.lock().unwrap().clone();
        let mut budget = shared.budget.lock().unwrap();
        if budget.fail_left > 0 {
            budget.fail_left -= 1;
            (true, None)
        } else if req.method == "GET" && req.ranged && budget.reset_left > 0 {
            budget.reset_left -= 1;
            (false, Some(faults.reset_after_body_bytes))
        } else {
            (false, None)
        }
    };
    // Recorded on arrival (so that a client that has its answer sees the record), with
    // the planned outcome; corrected below if the plan did not work out.
    let planned = if fail {
        Outcome::Answered503
    } else if reset_after.is_some() {
        Outcome::ResetMidBody
    } else {
        Outcome::Forwarded
    };
    let index = {
        let mut seen = shared.seen.lock().unwrap();
        seen.push(SeenRequest {
            method: req.method.clone(),
            target: req.target.clone(),
            ranged: req.ranged,
            outcome: planned,
        });
        seen.len() - 1
    };
    let correct = |outcome| shared.seen.lock().unwrap()[index].outcome = outcome;

    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if fail {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code>\
                    <Message>The fault proxy refused this request on purpose.</Message></Error>";
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nx-ms-error-code: ServerBusy\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(answer.as_bytes()).await;
        let _ = client.shutdown().await;
        return;
    }

    let Ok(mut server) = TcpStream::connect(upstream).await else {
        correct(Outcome::UpstreamUnreachable);
        let _ = client
            .write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return;
    };

    // Request: head, then exactly Content-Length body bytes.
    if server.write_all(&req.forwarded).await.is_err() {
        return;
    }
    let mut remaining = req.content_length;
    let first = early_body.len().min(remaining as usize);
    if server.write_all(&early_body[..first]).await.is_err() {
        return;
    }
    remaining -= first as u64;
    early_body.clear();
    let mut buf = vec![0u8; 64 * 1024];
    while remaining > 0 {
        let want = buf.len().min(remaining as usize);
        match client.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if server.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                remaining -= n as u64;
            }
        }
    }

    // Response.
    let Ok(Some((head, body_start))) = read_head(&mut server).await else {
        return;
    };
    if client.write_all(&head).await.is_err() {
        return;
    }
    let is_head = req.method == "HEAD";
    let mut body_left = if is_head {
        0
    } else {
        response_content_length(&head).unwrap_or(u64::MAX)
    };
    let mut budget_before_reset = reset_after.unwrap_or(u64::MAX);
    let mut pending = body_start;
    loop {
        if !pending.is_empty() {
            let n = (pending.len() as u64).min(budget_before_reset) as usize;
            if rate > 0 {
                let mut sent = 0;
                for piece in pending[..n].chunks(THROTTLE_PIECE) {
                    tokio::time::sleep(Duration::from_secs_f64(piece.len() as f64 / rate as f64)).await;
                    if client.write_all(piece).await.is_err() {
                        return;
                    }
                    sent += piece.len();
                }
                debug_assert_eq!(sent, n);
            } else if client.write_all(&pending[..n]).await.is_err() {
                return;
            }
            shared
                .body_bytes_forwarded
                .fetch_add(n as u64, Ordering::Relaxed);
            budget_before_reset -= n as u64;
            body_left = body_left.saturating_sub(n as u64);
            if reset_after.is_some() && budget_before_reset == 0 && body_left > 0 {
                let _ = client.flush().await;
                // Linger 0 makes close() send RST instead of FIN.
                let _ = client.set_zero_linger();
                drop(client);
                return;
            }
            pending.clear();
        }
        if body_left == 0 {
            break;
        }
        match server.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
    if reset_after.is_some() {
        // The body was shorter than the reset point.
        correct(Outcome::Forwarded);
    }
    let _ = client.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_is_rewritten_to_close() {
        let head = b"GET /devstoreaccount1/c/b HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nx-ms-range: bytes=0-9\r\n\r\n";
        let r = parse_request_head(head).unwrap();
        assert_eq!(r.method, "GET");
        assert!(r.ranged);
        let fwd = String::from_utf8(r.forwarded).unwrap();
        assert!(fwd.ends_with("Connection: close\r\n\r\n"), "{fwd}");
        assert!(!fwd.contains("keep-alive"), "{fwd}");
    }

    #[test]
    fn content_length_of_response() {
        assert_eq!(
            response_content_length(b"HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n"),
            Some(42)
        );
        assert_eq!(response_content_length(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }
}
