//! Outgoing mail: SMTP through lettre, or the dev mailbox.
//!
//! Mail is sent in the background: an answer never waits for (or reveals
//! anything through the timing of) the mail server.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde::Serialize;

/// A message to send.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// A message kept by the dev mailbox, as `GET /dev/mailbox` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub sent_at: String,
}

/// Most messages the dev mailbox keeps; older ones are dropped.
const DEV_MAILBOX_CAPACITY: usize = 1000;

/// In-memory mailbox for development: every message is logged and kept.
#[derive(Debug, Default)]
pub struct DevMailbox {
    messages: Mutex<VecDeque<StoredMail>>,
}

impl DevMailbox {
    fn deliver(&self, mail: &Mail) {
        tracing::info!(to = %mail.to, subject = %mail.subject, text = %mail.text, "dev mailbox: message");
        let mut messages = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        if messages.len() == DEV_MAILBOX_CAPACITY {
            messages.pop_front();
        }
        messages.push_back(StoredMail {
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            text: mail.text.clone(),
            sent_at: crate::clock::rfc3339(crate::clock::now_ms()),
        });
    }

    /// Every kept message, oldest first.
    pub fn messages(&self) -> Vec<StoredMail> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Dev(Arc<DevMailbox>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
            Self::Dev(_) => f.write_str("Mailer::Dev"),
        }
    }
}

impl Mailer {
    /// SMTP from a URL (credentials inside stay secret), or the dev mailbox.
    pub fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Self> {
        match &settings.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|_| anyhow::anyhow!("TASKSYNC_SMTP_URL is not a usable SMTP URL"))?
                    .build();
                let from = settings.smtp_from.parse().map_err(|e| {
                    anyhow::anyhow!("TASKSYNC_SMTP_FROM {:?}: {e}", settings.smtp_from)
                })?;
                Ok(Self::Smtp { transport, from })
            }
            None => Ok(Self::Dev(Arc::default())),
        }
    }

    /// The dev mailbox, when mail goes there.
    pub fn dev_mailbox(&self) -> Option<Arc<DevMailbox>> {
        match self {
            Self::Dev(m) => Some(m.clone()),
            Self::Smtp { .. } => None,
        }
    }

    async fn deliver(&self, mail: &Mail) -> anyhow::Result<()> {
        match self {
            Self::Dev(mailbox) => {
                mailbox.deliver(mail);
                Ok(())
            }
            Self::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(mail.to.parse()?)
                    .subject(&mail.subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(mail.text.clone())?;
                transport.send(message).await?;
                Ok(())
            }
        }
    }

    /// Sends in the background; failures are logged and counted, never
    /// shown to the requester.
    pub fn send(&self, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            match mailer.deliver(&mail).await {
                Ok(()) => {
                    metrics::counter!("tasksync_mail_sent_total", "result" => "ok").increment(1)
                }
                Err(e) => {
                    metrics::counter!("tasksync_mail_sent_total", "result" => "error").increment(1);
                    tracing::error!(error = %e, subject = %mail.subject, "sending mail failed");
                }
            }
        });
    }
}
