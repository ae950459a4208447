//! `wire-server`: the bare wire cost of fan-out, for the `wire` scenario
//! of `tasksync-bench`. A WebSocket broadcast server with no database, no
//! auth and no GraphQL, on the same stack as tasksync's sockets (tokio and
//! tungstenite, TCP_NODELAY, a 16 KiB write buffer, up to 64 messages per
//! flush).
//!
//! - `--port`: WebSocket connections (any path; the first offered
//!   subprotocol is accepted). Each socket gets `{"type":"ready"}` once it
//!   receives broadcasts.
//! - `--cmd-port`: plain TCP; each line is a title. The server answers
//!   `ok` once it has queued, to every socket, a message shaped like
//!   tasksync's `taskChanges` event for `{ cursor task { title } }`, with
//!   a cursor whose sequence number counts up from 1.

use std::sync::{Arc, Mutex};

use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Most messages written to a socket with one flush (as in tasksync).
const MAX_BURST: usize = 64;

#[derive(Debug, Parser)]
#[command(
    name = "wire-server",
    about = "Bare WebSocket broadcast server (tasksync-bench's wire floor)"
)]
struct Args {
    /// Port of the WebSocket listener (on 127.0.0.1).
    #[arg(long)]
    port: u16,
    /// Port of the command listener (on 127.0.0.1).
    #[arg(long)]
    cmd_port: u16,
    /// Messages buffered for a socket before it lags (and loses messages).
    #[arg(long, default_value_t = 65536)]
    capacity: usize,
}

/// The sender of broadcasts and the last sequence number, under one lock
/// so that sequence numbers go out in order.
type Broadcaster = Arc<Mutex<(broadcast::Sender<Utf8Bytes>, u64)>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (tx, _) = broadcast::channel(args.capacity.max(1));
    let sockets = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let commands = TcpListener::bind(("127.0.0.1", args.cmd_port)).await?;
    let subscribe = tx.clone();
    tokio::spawn(async move {
        loop {
            match sockets.accept().await {
                Ok((stream, _)) => {
                    let rx = subscribe.subscribe();
                    tokio::spawn(async move {
                        if let Err(e) = serve_socket(stream, rx).await {
                            eprintln!("wire-server: socket: {e}");
                        }
                    });
                }
                Err(e) => eprintln!("wire-server: accept: {e}"),
            }
        }
    });
    let broadcaster: Broadcaster = Arc::new(Mutex::new((tx, 0)));
    loop {
        let (stream, _) = commands.accept().await?;
        let broadcaster = broadcaster.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_commands(stream, broadcaster).await {
                eprintln!("wire-server: command connection: {e}");
            }
        });
    }
}

/// One WebSocket: the upgrade, `ready`, then every broadcast.
async fn serve_socket(
    stream: TcpStream,
    mut rx: broadcast::Receiver<Utf8Bytes>,
) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(16 * 1024);
    let mut ws =
        tokio_tungstenite::accept_hdr_async_with_config(stream, echo_protocol, Some(config))
            .await?;
    ws.send(Message::text(r#"{"type":"ready"}"#)).await?;
    loop {
        tokio::select! {
            m = rx.recv() => {
                let m = match m {
                    Ok(m) => m,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        eprintln!("wire-server: a socket lagged and lost {n} messages");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                // Take whatever else is ready too and write it in one go.
                ws.feed(Message::Text(m)).await?;
                let mut burst = 1;
                while burst < MAX_BURST {
                    let Ok(m) = rx.try_recv() else { break };
                    ws.feed(Message::Text(m)).await?;
                    burst += 1;
                }
                ws.flush().await?;
            }
            incoming = ws.next() => match incoming {
                // Pings are answered by tungstenite; the rest is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = ws.close(None).await;
    Ok(())
}

/// The upgrade's answer: the first offered subprotocol, accepted. (The
/// error type is tungstenite's.)
#[allow(clippy::result_large_err)]
fn echo_protocol(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let offered = request
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|p| p.trim().parse().ok());
    if let Some(p) = offered {
        response.headers_mut().insert("sec-websocket-protocol", p);
    }
    Ok(response)
}

/// One command connection: a title per line, `ok` per broadcast.
async fn serve_commands(stream: TcpStream, broadcaster: Broadcaster) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    while let Some(title) = lines.next_line().await? {
        {
            let mut guard = broadcaster
                .lock()
                .map_err(|_| anyhow::anyhow!("a command task panicked"))?;
            let (tx, seq) = &mut *guard;
            *seq += 1;
            // The shape and size of tasksync's event: a cursor of "c1", a
            // 32-digit scope and a 16-digit sequence number.
            let message = format!(
                r#"{{"id":"1","type":"next","payload":{{"data":{{"taskChanges":{{"cursor":"c1{:032x}{:016x}","task":{{"title":{}}}}}}}}}}}"#,
                0x0193_a1b2_c3d4_7e5f_8a9b_0c1d_2e3f_4a5b_u128,
                *seq,
                serde_json::Value::String(title),
            );
            // No receiver yet is not an error.
            let _ = tx.send(message.into());
        }
        write.write_all(b"ok\n").await?;
    }
    Ok(())
}
