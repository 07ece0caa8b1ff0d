//! The crate's one error type.

/// Why Redis could not decide. Every error turns into the store's configured fallback verdict
/// ([`FailureMode`](crate::FailureMode)) in a [`Decision::Failed`](crate::Decision::Failed);
/// the error says what went wrong, for logs and counters.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of its documented range.
    #[error("invalid configuration: {field} {reason}")]
    Config {
        /// The field, for example `name` or `io_timeout`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The Redis URL does not parse.
    #[error("bad Redis URL: {source}")]
    Url {
        /// The client's parse error.
        #[source]
        source: redis::RedisError,
    },
    /// Connecting to Redis failed (refused, unreachable, or not within the connect timeout).
    #[error("cannot connect to Redis: {source}")]
    Connect {
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// Redis did not answer within the I/O timeout.
    #[error("Redis did not answer the {script} script within the I/O timeout")]
    Timeout {
        /// The script (decision kind) that was waiting.
        script: &'static str,
    },
    /// The connection broke, the reply did not parse as RESP, or Redis answered with an error.
    #[error("Redis failed running the {script} script: {source}")]
    Redis {
        /// The script (decision kind) that was running.
        script: &'static str,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// Redis answered, but not with what the script returns (another program on the port,
    /// or a script of another version under the same SHA1).
    #[error("unexpected reply to the {script} script: {what}")]
    Reply {
        /// The script (decision kind).
        script: &'static str,
        /// What was expected.
        what: &'static str,
    },
    /// A record stored under the decision's key does not decode (written by something else,
    /// or by another state version).
    #[error("stored {script} record does not decode: {source}")]
    State {
        /// The script (decision kind).
        script: &'static str,
        /// The decoding error of postern-policy.
        #[source]
        source: postern_policy::Error,
    },
    /// The script's state transition differs from postern-policy's pure step for the same
    /// record and time: the decision is not trusted (a bug, or a stale script).
    #[error("the {script} script and postern-policy disagree on the decision")]
    Diverged {
        /// The script (decision kind).
        script: &'static str,
    },
    /// A recent failure marked Redis down; no connection is tried until the backoff is over.
    #[error("Redis is marked down after a failure; next attempt in {retry_in_ms} ms")]
    Backoff {
        /// Milliseconds until the next connection attempt.
        retry_in_ms: u64,
    },
}
