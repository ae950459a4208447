//! `tasksync healthcheck`: asks a running server `GET /healthz` (or
//! `/readyz`) over plain HTTP/1.1 on a tokio `TcpStream`, so that an image
//! needs no curl and the binary no HTTP client. Succeeds when the server
//! answers 200 and, with `--expect-version`, is that build.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use url::Url;

use crate::build_info::version_text;
use crate::config::HealthcheckArgs;

/// The longest answer read: a health answer is a few dozen bytes.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// `tasksync healthcheck`: `Ok` with a line to print when the server is
/// healthy (or ready), else the reason.
pub async fn run(args: &HealthcheckArgs) -> anyhow::Result<String> {
    let base = match &args.url {
        Some(url) => url.clone(),
        None => default_url(args.listen)?,
    };
    let path = if args.ready { "/readyz" } else { "/healthz" };
    let (status, body) = get(&base, path, args.timeout).await?;
    let state = body["status"].as_str().unwrap_or("?").to_owned();
    if status != 200 {
        bail!("{path} of {base} answered {status} ({state})");
    }
    let Some(expected) = &args.expect_version else {
        return Ok(format!("{path}: {state}"));
    };
    // /readyz does not say which build answers: /healthz does.
    let health = if args.ready {
        get(&base, "/healthz", args.timeout).await?.1
    } else {
        body
    };
    let running = version_text(
        health["version"].as_str().unwrap_or("unknown"),
        health["commit"].as_str().unwrap_or("unknown"),
    );
    if running != expected.trim() {
        bail!("{base} runs {running}, not {}", expected.trim());
    }
    Ok(format!("{path}: {state}, {running}"))
}

/// `http://` + the listen address, with an unspecified address (`0.0.0.0`,
/// `[::]`) replaced by the loopback address of its family.
fn default_url(listen: SocketAddr) -> anyhow::Result<Url> {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(format!("http://{}", SocketAddr::new(ip, listen.port())).parse()?)
}

/// `GET base + path`: the status code and the body as JSON (`Null` when
/// it is not JSON), within `timeout`.
async fn get(base: &Url, path: &str, timeout: Duration) -> anyhow::Result<(u16, Value)> {
    if base.scheme() != "http" {
        bail!("{base}: only http:// URLs are supported (ask the node itself, not a TLS proxy)");
    }
    let host = base.host_str().context("the URL has no host")?;
    let port = base.port_or_known_default().unwrap_or(80);
    let url = format!("{}{path}", base.as_str().trim_end_matches('/'));
    let target = url.parse::<Url>()?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tasksync-healthcheck\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n",
        target.path(),
        match base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        },
    );
    let exchange = async {
        // `host_str` keeps an IPv6 address's brackets; connect wants it bare.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut stream = tokio::net::TcpStream::connect((host, port))
            .await
            .with_context(|| format!("connecting to {host}:{port}"))?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut answer)
            .await
            .context("reading the answer")?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "no answer from {url} within {}",
                humantime::format_duration(timeout)
            )
        })?
        .with_context(|| format!("GET {url}"))?;
    parse(&answer).with_context(|| format!("GET {url}"))
}

/// The status and JSON body of a whole HTTP/1.1 answer (`Content-Length`,
/// chunked, or up to the end of the connection).
fn parse(answer: &[u8]) -> anyhow::Result<(u16, Value)> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the answer has no complete head")?;
    let head = std::str::from_utf8(&answer[..split]).context("the answer's head is not text")?;
    let mut body = &answer[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        bail!("not an HTTP answer: {status_line:?}");
    };
    if !version.starts_with("HTTP/1.") {
        bail!("not an HTTP/1 answer: {status_line:?}");
    }
    let status: u16 = code
        .parse()
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length")
            && let Ok(n) = value.parse::<usize>()
        {
            body = &body[..n.min(body.len())];
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// The data of a chunked body.
fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunk size line is cut off")?;
        let size_text = std::str::from_utf8(&body[..end])?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        body = &body[end + 2..];
        if size == 0 {
            return Ok(data);
        }
        let chunk = body.get(..size).context("a chunk is cut off")?;
        data.extend_from_slice(chunk);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_asks_the_loopback_address_for_an_unspecified_listen_address() {
        for (listen, url) in [
            ("0.0.0.0:8080", "http://127.0.0.1:8080/"),
            ("[::]:9000", "http://[::1]:9000/"),
            ("10.1.2.3:80", "http://10.1.2.3/"),
            ("127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ] {
            let got = default_url(listen.parse().expect("addr")).expect("url");
            assert_eq!(got.as_str(), url, "{listen}");
        }
    }

    #[test]
    fn answers_parse_with_a_length_chunked_or_to_the_end() {
        let with_length =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}";
        assert_eq!(
            parse(with_length).expect("parses"),
            (200, serde_json::json!({ "status": "ok" }))
        );
        let chunked = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\n{\"sta\r\n10\r\ntus\":\"draining\"}\r\n0\r\n\r\n";
        assert_eq!(
            parse(chunked).expect("parses"),
            (503, serde_json::json!({ "status": "draining" }))
        );
        let to_the_end = b"HTTP/1.0 200 OK\r\n\r\nnot json";
        assert_eq!(parse(to_the_end).expect("parses"), (200, Value::Null));
    }

    #[test]
    fn what_is_not_an_http_answer_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"garbage",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 abc\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nshort",
            b"\xff\xfe\r\n\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
