//! How a socket's loop ends: the close code and reason it sends.

/// A close frame to send (or, with 1006, the note that the connection is
/// broken and there is no one to tell).
#[derive(Debug)]
pub struct Close(pub(super) u16, pub(super) String);

impl Close {
    pub(super) fn new(code: u16, reason: impl Into<String>) -> Self {
        Self(code, reason.into())
    }
}

/// The close for a message that could not be read: 1007 for text that is
/// not UTF-8, 1009 for one over the size limit, 1002 for other protocol
/// errors, nothing to say (1006) when the connection broke.
pub(super) fn read_error(e: axum::Error) -> Close {
    use tungstenite::Error as E;
    match e.into_inner().downcast_ref::<E>() {
        Some(E::Utf8(_)) => Close::new(1007, "text message is not UTF-8"),
        Some(E::Capacity(_)) => Close::new(1009, "message too big"),
        Some(E::Protocol(_)) => Close::new(1002, "protocol error"),
        _ => Close::new(1006, "read failed"),
    }
}
