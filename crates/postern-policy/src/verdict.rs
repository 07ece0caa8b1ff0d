//! Verdicts: what the caller does with the SMTP command or connection, and the reply to send.

use core::fmt;

/// An RFC 3463 enhanced status code, `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnhancedCode {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// The subject, for example 7 (security or policy status).
    pub subject: u16,
    /// The detail, for example 1 (delivery not authorized).
    pub detail: u16,
}

impl EnhancedCode {
    /// Build `class.subject.detail`.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// An SMTP reply: the code, the enhanced status code and a default text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reply {
    /// The RFC 5321 reply code, for example 451.
    pub code: u16,
    /// The RFC 3463 enhanced status code, for example 4.7.1.
    pub enhanced: EnhancedCode,
    /// A default human-readable text; callers may substitute their own.
    pub text: &'static str,
}

impl Reply {
    /// Build a reply.
    pub const fn new(code: u16, enhanced: EnhancedCode, text: &'static str) -> Self {
        Self {
            code,
            enhanced,
            text,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.text)
    }
}

/// A connection refused by a rate or concurrency limit (RFC 5321 §3.8, RFC 3463 §3.8).
pub const REPLY_TOO_MANY_CONNECTIONS: Reply = Reply::new(
    421,
    EnhancedCode::new(4, 7, 0),
    "Too many connections, try again later",
);
/// A MAIL or RCPT refused by a rate limit.
pub const REPLY_RATE_LIMITED: Reply = Reply::new(
    450,
    EnhancedCode::new(4, 7, 1),
    "Rate limit exceeded, try again later",
);
/// A greylisting deferral (RFC 6647 §2.1).
pub const REPLY_GREYLISTED: Reply = Reply::new(
    451,
    EnhancedCode::new(4, 7, 1),
    "Greylisted, please try again later",
);
/// A message larger than the size limit (RFC 1870 §6, RFC 3463 §3.4).
pub const REPLY_MESSAGE_TOO_BIG: Reply = Reply::new(
    552,
    EnhancedCode::new(5, 3, 4),
    "Message size exceeds fixed limit",
);
/// A recipient beyond the per-message limit (RFC 5321 §4.5.3.1.10, RFC 3463 §3.5).
pub const REPLY_TOO_MANY_RECIPIENTS: Reply =
    Reply::new(452, EnhancedCode::new(4, 5, 3), "Too many recipients");
/// A MAIL beyond the per-session message limit: the session is closed.
pub const REPLY_TOO_MANY_MESSAGES: Reply = Reply::new(
    421,
    EnhancedCode::new(4, 7, 0),
    "Too many messages in this session, try again later",
);
/// A client dropped for too many errors (Postfix's hard error limit).
pub const REPLY_TOO_MANY_ERRORS: Reply = Reply::new(
    421,
    EnhancedCode::new(4, 7, 0),
    "Too many errors, closing connection",
);
/// A client in the penalty box above the ban threshold, temporary form.
pub const REPLY_BANNED_TEMPORARY: Reply = Reply::new(
    421,
    EnhancedCode::new(4, 7, 0),
    "Too many errors from your network, try again later",
);
/// A client in the penalty box above the ban threshold, permanent form.
pub const REPLY_BANNED_PERMANENT: Reply = Reply::new(
    554,
    EnhancedCode::new(5, 7, 1),
    "Access denied: too many errors from your network",
);
/// The answer to a STARTTLS command that was not advertised.
pub const REPLY_STARTTLS_WITHHELD: Reply =
    Reply::new(502, EnhancedCode::new(5, 5, 1), "Command not implemented");
/// A message that requires TLS could not be delivered with it (RFC 8689 §5).
pub const REPLY_REQUIRETLS: Reply = Reply::new(
    550,
    EnhancedCode::new(5, 7, 30),
    "REQUIRETLS support required",
);
/// A delivery deferred because TLS policy could not be met (RFC 8461 §5, RFC 7672 §2.2).
pub const REPLY_TLS_POLICY_DEFER: Reply = Reply::new(
    451,
    EnhancedCode::new(4, 7, 5),
    "TLS policy of the recipient domain could not be met",
);

/// What the caller does with a command or connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Go on.
    Accept,
    /// Go on after waiting this long (a tarpit); the caller sleeps, not the library.
    Delay {
        /// How long to wait before answering, in milliseconds.
        ms: u64,
    },
    /// Refuse this command with a 4xx reply; the client may try again.
    Defer {
        /// The reply to send.
        reply: Reply,
        /// When a retry can succeed, in milliseconds from now, when known.
        retry_after_ms: Option<u64>,
    },
    /// Refuse this command with a 5xx reply.
    Reject {
        /// The reply to send.
        reply: Reply,
    },
    /// Send the reply (421 or 554) and close the connection.
    Disconnect {
        /// The reply to send.
        reply: Reply,
        /// When a new connection can succeed, in milliseconds from now, when known.
        retry_after_ms: Option<u64>,
    },
}

impl Verdict {
    /// The reply to send, for the verdicts that refuse.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Accept | Self::Delay { .. } => None,
            Self::Defer { reply, .. } | Self::Reject { reply } | Self::Disconnect { reply, .. } => {
                Some(reply)
            }
        }
    }

    /// Whether the command or connection goes on (possibly after a delay).
    pub fn is_accept(&self) -> bool {
        matches!(self, Self::Accept | Self::Delay { .. })
    }
}

/// A monotonic view of the caller's clock: a `now` earlier than one already seen is clamped to
/// it, so a clock that steps backwards never makes a decision fail or panic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    last_ms: u64,
}

impl Clock {
    /// A clock that has seen no time yet.
    pub const fn new() -> Self {
        Self { last_ms: 0 }
    }

    /// Record `now_ms` and return it, or the latest time seen if that is later.
    pub fn observe(&mut self, now_ms: u64) -> u64 {
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
        }
        self.last_ms
    }

    /// The latest time seen, in milliseconds.
    pub const fn last_ms(&self) -> u64 {
        self.last_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_clamps_backwards_steps() {
        let mut clock = Clock::new();
        assert_eq!(clock.observe(100), 100);
        assert_eq!(clock.observe(50), 100);
        assert_eq!(clock.observe(150), 150);
        assert_eq!(clock.last_ms(), 150);
    }

    #[test]
    fn replies_render() {
        assert_eq!(REPLY_GREYLISTED.enhanced.to_string(), "4.7.1");
        assert_eq!(
            REPLY_MESSAGE_TOO_BIG.to_string(),
            "552 5.3.4 Message size exceeds fixed limit"
        );
        let v = Verdict::Defer {
            reply: REPLY_RATE_LIMITED,
            retry_after_ms: Some(5),
        };
        assert_eq!(v.reply().map(|r| r.code), Some(450));
        assert!(!v.is_accept());
        assert!(Verdict::Delay { ms: 3 }.is_accept());
        assert!(Verdict::Accept.reply().is_none());
    }
}
