//! Per-message and per-session limits: message size at MAIL (RFC 1870 `SIZE=`) and after
//! DATA, recipients per message, messages per session, and Postfix-style soft and hard error
//! limits. Counters live in a [`Session`] the caller keeps per connection.

use crate::verdict::{
    REPLY_MESSAGE_TOO_BIG, REPLY_TOO_MANY_ERRORS, REPLY_TOO_MANY_MESSAGES,
    REPLY_TOO_MANY_RECIPIENTS, Verdict,
};

/// Default message size limit: 10 240 000 octets (Postfix's `message_size_limit`).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 10_240_000;
/// Default recipients per message: 100, the minimum RFC 5321 §4.5.3.1.8 requires servers to
/// accept.
pub const DEFAULT_MAX_RECIPIENTS: u32 = 100;
/// Default messages per session (Exim's `smtp_accept_max_per_connection`).
pub const DEFAULT_MAX_MESSAGES: u32 = 1000;
/// Default soft error limit: after this many errors each reply is delayed (Postfix's
/// `smtpd_soft_error_limit`).
pub const DEFAULT_SOFT_ERROR_LIMIT: u32 = 10;
/// Default hard error limit: at this many errors the session is dropped (Postfix's
/// `smtpd_hard_error_limit`).
pub const DEFAULT_HARD_ERROR_LIMIT: u32 = 20;
/// Default delay per error beyond the soft limit: 1 s (Postfix's `smtpd_error_sleep_time`).
pub const DEFAULT_ERROR_DELAY_MS: u64 = 1000;
/// Cap of the error delay: 30 s, well below the 5-minute client timeouts of RFC 5321
/// §4.5.3.2.
pub const MAX_ERROR_DELAY_MS: u64 = 30_000;

/// Limits of one session and the messages in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionLimits {
    /// Largest message accepted, in octets.
    pub max_message_size: u64,
    /// Recipients accepted per message; further RCPTs get 452 4.5.3.
    pub max_recipients: u32,
    /// Messages accepted per session; a further MAIL gets 421 4.7.0 and the session ends.
    pub max_messages: u32,
    /// Errors after which each reply is delayed.
    pub soft_error_limit: u32,
    /// Errors at which the session is dropped (421 4.7.0).
    pub hard_error_limit: u32,
    /// Delay per error beyond the soft limit (ms), capped at [`MAX_ERROR_DELAY_MS`].
    pub error_delay_ms: u64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_recipients: DEFAULT_MAX_RECIPIENTS,
            max_messages: DEFAULT_MAX_MESSAGES,
            soft_error_limit: DEFAULT_SOFT_ERROR_LIMIT,
            hard_error_limit: DEFAULT_HARD_ERROR_LIMIT,
            error_delay_ms: DEFAULT_ERROR_DELAY_MS,
        }
    }
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Session {
    messages: u32,
    recipients: u32,
    errors: u32,
}

impl Session {
    /// A new session.
    pub const fn new() -> Self {
        Self {
            messages: 0,
            recipients: 0,
            errors: 0,
        }
    }

    /// Messages accepted so far.
    pub const fn messages(&self) -> u32 {
        self.messages
    }

    /// Recipients accepted in the current message.
    pub const fn recipients(&self) -> u32 {
        self.recipients
    }

    /// Errors so far.
    pub const fn errors(&self) -> u32 {
        self.errors
    }

    /// MAIL FROM, with the `SIZE=` the client declared if any. Starts a transaction when
    /// accepted: 421 4.7.0 beyond `max_messages` (disconnect), 552 5.3.4 when the declared
    /// size exceeds the limit (RFC 1870 §6.1).
    pub fn mail(&mut self, limits: &SessionLimits, declared_size: Option<u64>) -> Verdict {
        if self.messages >= limits.max_messages {
            return Verdict::Disconnect {
                reply: REPLY_TOO_MANY_MESSAGES,
                retry_after_ms: None,
            };
        }
        if declared_size.is_some_and(|s| s > limits.max_message_size) {
            return Verdict::Reject {
                reply: REPLY_MESSAGE_TOO_BIG,
            };
        }
        self.messages = self.messages.saturating_add(1);
        self.recipients = 0;
        Verdict::Accept
    }

    /// RCPT TO: 452 4.5.3 beyond `max_recipients` (RFC 5321 §4.5.3.1.10: the client sends
    /// the rest in another transaction). Call [`recipient_accepted`](Self::recipient_accepted)
    /// when every other check accepted it too.
    pub fn rcpt(&self, limits: &SessionLimits) -> Verdict {
        if self.recipients >= limits.max_recipients {
            return Verdict::Defer {
                reply: REPLY_TOO_MANY_RECIPIENTS,
                retry_after_ms: None,
            };
        }
        Verdict::Accept
    }

    /// Count a recipient accepted in the current transaction.
    pub fn recipient_accepted(&mut self) {
        self.recipients = self.recipients.saturating_add(1);
    }

    /// The message received after DATA (or BDAT LAST) is `size` octets: 552 5.3.4 when it
    /// exceeds the limit. Ends the transaction either way.
    pub fn data(&mut self, limits: &SessionLimits, size: u64) -> Verdict {
        self.recipients = 0;
        if size > limits.max_message_size {
            return Verdict::Reject {
                reply: REPLY_MESSAGE_TOO_BIG,
            };
        }
        Verdict::Accept
    }

    /// RSET or a new EHLO: the transaction ends.
    pub fn reset(&mut self) {
        self.recipients = 0;
    }

    /// A command failed (unknown recipient, syntax error, ...): count it and say what to do
    /// with the error reply: send it at once, delay it (`errors × error_delay` beyond the soft
    /// limit, as Postfix does), or drop the session at the hard limit.
    pub fn error(&mut self, limits: &SessionLimits) -> Verdict {
        self.errors = self.errors.saturating_add(1);
        if limits.hard_error_limit > 0 && self.errors >= limits.hard_error_limit {
            return Verdict::Disconnect {
                reply: REPLY_TOO_MANY_ERRORS,
                retry_after_ms: None,
            };
        }
        if self.errors > limits.soft_error_limit {
            let ms = u64::from(self.errors)
                .saturating_mul(limits.error_delay_ms)
                .min(MAX_ERROR_DELAY_MS);
            return Verdict::Delay { ms };
        }
        Verdict::Accept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SessionLimits {
        SessionLimits {
            max_message_size: 1000,
            max_recipients: 2,
            max_messages: 2,
            soft_error_limit: 1,
            hard_error_limit: 3,
            error_delay_ms: 1000,
        }
    }

    #[test]
    fn declared_size_rejected_at_mail() {
        let mut s = Session::new();
        let v = s.mail(&small(), Some(1001));
        assert_eq!(
            v.reply().map(|r| (r.code, r.enhanced.to_string())),
            Some((552, "5.3.4".into()))
        );
        assert_eq!(s.messages(), 0);
        assert_eq!(s.mail(&small(), Some(1000)), Verdict::Accept);
        assert_eq!(s.mail(&small(), None), Verdict::Accept);
    }

    #[test]
    fn actual_size_rejected_after_data() {
        let mut s = Session::new();
        assert_eq!(s.data(&small(), 1000), Verdict::Accept);
        assert!(matches!(s.data(&small(), 1001), Verdict::Reject { reply } if reply.code == 552));
    }

    #[test]
    fn recipients_per_message() {
        let mut s = Session::new();
        let _ = s.mail(&small(), None);
        for _ in 0..2 {
            assert_eq!(s.rcpt(&small()), Verdict::Accept);
            s.recipient_accepted();
        }
        let v = s.rcpt(&small());
        assert_eq!(
            v.reply().map(|r| (r.code, r.enhanced.to_string())),
            Some((452, "4.5.3".into()))
        );
        // A new transaction starts counting again.
        s.reset();
        assert_eq!(s.rcpt(&small()), Verdict::Accept);
        assert_eq!(s.recipients(), 0);
    }

    #[test]
    fn messages_per_session() {
        let mut s = Session::new();
        assert_eq!(s.mail(&small(), None), Verdict::Accept);
        assert_eq!(s.mail(&small(), None), Verdict::Accept);
        assert!(
            matches!(s.mail(&small(), None), Verdict::Disconnect { reply, .. } if reply.code == 421)
        );
        assert_eq!(s.messages(), 2);
    }

    #[test]
    fn soft_and_hard_error_limits() {
        let mut s = Session::new();
        assert_eq!(s.error(&small()), Verdict::Accept);
        assert_eq!(s.error(&small()), Verdict::Delay { ms: 2000 });
        assert!(
            matches!(s.error(&small()), Verdict::Disconnect { reply, .. } if reply.code == 421)
        );
        assert_eq!(s.errors(), 3);
        let mut many = Session::new();
        let lim = SessionLimits {
            hard_error_limit: 0,
            ..small()
        };
        for _ in 0..100 {
            let _ = many.error(&lim);
        }
        assert_eq!(
            many.error(&lim),
            Verdict::Delay {
                ms: MAX_ERROR_DELAY_MS
            }
        );
    }
}
