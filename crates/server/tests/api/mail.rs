//! Mail over a real SMTP exchange.
//!
//! [`SmtpServer`] is a tiny SMTP server written for these tests. No SMTP
//! server package is available here, and what we want to test is the real
//! socket exchange between the server's mail client (lettre) and a mail
//! server, not a stand-in for lettre. It speaks just enough plain SMTP (no
//! TLS, no AUTH) for lettre and keeps every message it receives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::helpers::{self, TestApp};

/// How long a test waits for a message before it fails.
const WAIT: Duration = Duration::from_secs(10);

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Envelope recipients (`RCPT TO`).
    pub recipients: Vec<String>,
    /// Everything after `DATA`, dot-stuffing undone, lines ending in CRLF.
    pub data: String,
}

#[derive(Debug, Default)]
struct Inbox {
    mails: Mutex<Vec<ReceivedMail>>,
    arrived: Notify,
}

/// A plain SMTP server on 127.0.0.1 and a free port; stops when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    port: u16,
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP server");
        let port = listener.local_addr().expect("SMTP server address").port();
        let inbox = Arc::new(Inbox::default());
        let shared = inbox.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inbox = shared.clone();
                // A broken session loses only its own message; the test
                // waiting for that message reports it.
                tokio::spawn(async move {
                    let _ = session(stream, &inbox).await;
                });
            }
        });
        Self { port, inbox, task }
    }

    /// The `TASKSYNC_SMTP_URL` of this server.
    pub fn url(&self) -> SecretString {
        SecretString::from(format!("smtp://127.0.0.1:{}", self.port))
    }

    /// Waits (at most `timeout`) until `count` messages have been sent to
    /// `to`, and returns the `count`-th.
    pub async fn wait_for_message(
        &self,
        to: &str,
        count: usize,
        timeout: Duration,
    ) -> ReceivedMail {
        let waited = tokio::time::timeout(timeout, async {
            loop {
                // Registered before looking, so an arrival in between wakes us.
                let arrived = self.inbox.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if let Some(mail) = self
                    .mails()
                    .into_iter()
                    .filter(|m| m.recipients.iter().any(|r| r == to))
                    .nth(count - 1)
                {
                    return mail;
                }
                arrived.await;
            }
        });
        waited.await.unwrap_or_else(|_| {
            panic!(
                "no message #{count} to {to} within {timeout:?}; received: {:#?}",
                self.mails()
            )
        })
    }

    fn mails(&self) -> Vec<ReceivedMail> {
        self.inbox
            .mails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One SMTP session, until `QUIT` or the client hangs up.
async fn session(stream: TcpStream, inbox: &Inbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut recipients = Vec::new();
    write
        .write_all(b"220 localhost tasksync test SMTP\r\n")
        .await?;
    while let Some(line) = read_line(&mut read).await? {
        let reply: &[u8] = match line.get(..4).unwrap_or(&line).to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" => b"250-localhost\r\n250 OK\r\n",
            "MAIL" | "RSET" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                let addr = line.split_once('<').and_then(|(_, a)| a.split_once('>'));
                recipients.push(addr.map_or("", |(a, _)| a).to_owned());
                b"250 OK\r\n"
            }
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    let Some(line) = read_line(&mut read).await? else {
                        return Ok(());
                    };
                    if line == "." {
                        break;
                    }
                    // Undo dot-stuffing (RFC 5321 4.5.2): "..x" was "x" with a leading dot.
                    data.push_str(if line.starts_with("..") {
                        &line[1..]
                    } else {
                        line.as_str()
                    });
                    data.push_str("\r\n");
                }
                let mail = ReceivedMail {
                    recipients: std::mem::take(&mut recipients),
                    data,
                };
                inbox
                    .mails
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(mail);
                inbox.arrived.notify_waiters();
                b"250 OK: queued\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => return write.write_all(b"221 Bye\r\n").await,
            _ => b"502 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// The next line without its line end; `None` when the client hung up.
async fn read_line(read: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    if read.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&line);
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
}

impl ReceivedMail {
    /// The value of the first header called `name` (folded lines joined).
    fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut lines = head.split("\r\n").skip_while(|l| {
            !l.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        });
        let mut value = lines.next()?.split_once(':')?.1.trim().to_owned();
        for folded in lines.take_while(|l| l.starts_with([' ', '\t'])) {
            value.push(' ');
            value.push_str(folded.trim());
        }
        Some(value)
    }

    /// The plain-text body, quoted-printable (soft line breaks, `=XX`) decoded.
    fn text(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let encoding = self.header("Content-Transfer-Encoding").unwrap_or_default();
        if !encoding.eq_ignore_ascii_case("quoted-printable") {
            return body.to_owned();
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'=', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The six-digit code in the body.
    fn code(&self) -> String {
        helpers::extract_code(&self.text())
            .unwrap_or_else(|| panic!("no six-digit code in the message:\n{}", self.data))
    }
}

/// Starts the app in production mode with mail going to `smtp_url`.
async fn spawn_with_smtp(smtp_url: SecretString) -> TestApp {
    helpers::spawn_with(|s| {
        s.dev = false;
        s.smtp_url = Some(smtp_url);
        s.smtp_from = "tasksync <no-reply@example.com>".into();
    })
    .await
}

/// Signs `email` up and confirms it with the code that arrives over SMTP;
/// returns the sign-up message.
async fn register_over_smtp(app: &TestApp, smtp: &SmtpServer, email: &str) -> ReceivedMail {
    let up = app.sign_up(email, helpers::PASSWORD).await;
    assert_eq!(up.status, StatusCode::CREATED, "sign-up: {:?}", up.body);
    let mail = smtp.wait_for_message(email, 1, WAIT).await;
    let confirm = json!({ "email": email, "code": mail.code() });
    let confirmed = app.post("/auth/confirm-sign-up", confirm).await;
    assert_eq!(
        confirmed.status,
        StatusCode::OK,
        "confirm-sign-up: {:?}",
        confirmed.body
    );
    mail
}

#[tokio::test]
async fn sign_up_code_arrives_over_smtp_and_confirms_the_account() {
    let smtp = SmtpServer::start().await;
    let app = spawn_with_smtp(smtp.url()).await;
    let email = helpers::email("smtp-sign-up");

    let mail = register_over_smtp(&app, &smtp, &email).await;

    assert_eq!(
        mail.recipients,
        std::slice::from_ref(&email),
        "envelope recipients of:\n{}",
        mail.data
    );
    let subject = mail.header("Subject");
    assert_eq!(
        subject.as_deref(),
        Some("Your tasksync verification code"),
        "message:\n{}",
        mail.data
    );
    let from = mail.header("From").unwrap_or_default();
    assert!(
        from.contains("no-reply@example.com"),
        "From should be TASKSYNC_SMTP_FROM, is {from:?}"
    );
    let signed_in = app.sign_in(&email, helpers::PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::OK,
        "sign-in after confirming: {:?}",
        signed_in.body
    );
    assert!(
        !signed_in.str("accessToken").is_empty(),
        "empty accessToken: {:?}",
        signed_in.body
    );
}

#[tokio::test]
async fn password_reset_code_arrives_over_smtp() {
    let smtp = SmtpServer::start().await;
    let app = spawn_with_smtp(smtp.url()).await;
    let email = helpers::email("smtp-reset");
    register_over_smtp(&app, &smtp, &email).await;

    let forgot = app
        .post("/auth/forgot-password", json!({ "email": email }))
        .await;
    assert_eq!(
        forgot.status,
        StatusCode::OK,
        "forgot-password: {:?}",
        forgot.body
    );
    let mail = smtp.wait_for_message(&email, 2, WAIT).await;
    assert_eq!(
        mail.recipients,
        std::slice::from_ref(&email),
        "envelope recipients of:\n{}",
        mail.data
    );
    let subject = mail.header("Subject");
    assert_eq!(
        subject.as_deref(),
        Some("Your tasksync password reset code"),
        "message:\n{}",
        mail.data
    );
    let reset =
        json!({ "email": email, "code": mail.code(), "newPassword": helpers::NEW_PASSWORD });
    let reset = app.post("/auth/confirm-forgot-password", reset).await;
    assert_eq!(
        reset.status,
        StatusCode::OK,
        "confirm-forgot-password: {:?}",
        reset.body
    );

    let new = app.sign_in(&email, helpers::NEW_PASSWORD).await;
    assert_eq!(
        new.status,
        StatusCode::OK,
        "sign-in with the new password: {:?}",
        new.body
    );
    let old = app.sign_in(&email, helpers::PASSWORD).await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "sign-in with the old password: {:?}",
        old.body
    );
}

#[tokio::test]
async fn production_mode_refuses_to_start_without_smtp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = helpers::test_settings(&dir);
    settings.dev = false;
    settings.smtp_url = None;
    match tasksync_server::Application::build(settings).await {
        Ok(_) => panic!("production mode without TASKSYNC_SMTP_URL must not start"),
        Err(e) => {
            let text = format!("{e:#}");
            assert!(
                text.contains("TASKSYNC_SMTP_URL"),
                "the error should name the setting: {text}"
            );
        }
    }
}

#[tokio::test]
async fn dev_mailbox_is_absent_outside_dev_mode() {
    let smtp = SmtpServer::start().await;
    let app = spawn_with_smtp(smtp.url()).await;
    let mailbox = app.get("/dev/mailbox").await;
    assert_eq!(
        mailbox.status,
        StatusCode::NOT_FOUND,
        "GET /dev/mailbox: {:?}",
        mailbox.body
    );
    assert_eq!(
        mailbox.code(),
        "NotFound",
        "GET /dev/mailbox: {:?}",
        mailbox.body
    );
}

#[tokio::test]
async fn an_unreachable_smtp_server_does_not_change_the_answer() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let app = spawn_with_smtp(SecretString::from(format!("smtp://127.0.0.1:{port}"))).await;

    let up = app
        .sign_up(&helpers::email("smtp-down"), helpers::PASSWORD)
        .await;
    assert_eq!(
        up.status,
        StatusCode::CREATED,
        "sign-up with the mail server down: {:?}",
        up.body
    );
}
