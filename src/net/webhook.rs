//! Standard Webhooks: signing, verification, one delivery attempt and the retry schedule.
//!
//! A message is signed as `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>` where
//! `key` is the base64-decoded part of a `whsec_...` secret; the signature goes in the
//! `webhook-signature` header next to `webhook-id` and `webhook-timestamp`.
//! See <https://www.standardwebhooks.com/>.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use super::error::describe_reqwest;
use crate::config::ConfigError;

type HmacSha256 = hmac::Hmac<Sha256>;

const SECRET_PREFIX: &str = "whsec_";
/// Shortest key accepted (Standard Webhooks recommends 24 to 64 bytes).
const MIN_SECRET_BYTES: usize = 16;
const MAX_SECRET_BYTES: usize = 64;
/// Length of generated keys.
const GENERATED_SECRET_BYTES: usize = 32;
/// A `Retry-After` longer than this is treated as this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A webhook signing key. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    /// Parse `whsec_` + base64 (standard alphabet, padded) of a 16 to 64 byte key.
    /// A bad secret is a [`ConfigError`]: it comes from the service's configuration.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let encoded = s.trim().strip_prefix(SECRET_PREFIX).ok_or_else(|| {
            ConfigError::InvalidSecret(format!("a webhook secret starts with {SECRET_PREFIX:?}"))
        })?;
        let key = BASE64
            .decode(encoded)
            .map_err(|_| ConfigError::InvalidSecret("the key after whsec_ is not base64".into()))?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(ConfigError::InvalidSecret(format!(
                "the key is {} bytes; it must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}",
                key.len()
            )));
        }
        Ok(WebhookSecret(key))
    }

    /// A new random 32-byte key and its `whsec_...` form (to show the operator once).
    pub fn generate() -> (Self, String) {
        let key: [u8; GENERATED_SECRET_BYTES] = rand::random();
        let text = format!("{SECRET_PREFIX}{}", BASE64.encode(key));
        (WebhookSecret(key.to_vec()), text)
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` value for a message: `v1,<base64 HMAC-SHA256>`.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(msg_id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", BASE64.encode(tag))
}

/// Whether `header` (one or more space-separated `v1,<base64>` signatures, as during key
/// rotation) holds a valid signature of the message. Entries of other versions and
/// malformed entries are skipped; the comparison is constant-time. Timestamp freshness is
/// the caller's concern.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    let expected = secret.mac(msg_id, timestamp, body);
    header
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| BASE64.decode(sig).ok())
        .fold(false, |found, tag| {
            // Check every entry (no early exit) so timing does not reveal which matched.
            expected.clone().verify_slice(&tag).is_ok() | found
        })
}

/// Exponential backoff with equal jitter for webhook retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrySchedule {
    /// Delay scale: the retry after the first failure waits between base/2 and base.
    pub base: Duration,
    /// Cap of the exponential delay (before jitter and `Retry-After`).
    pub max: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
}

impl Default for RetrySchedule {
    /// Near Standard Webhooks' schedule (about a day of retries in all): 30 s doubling up
    /// to 10 h, 13 attempts.
    fn default() -> Self {
        RetrySchedule {
            base: Duration::from_secs(30),
            max: Duration::from_secs(10 * 3600),
            max_attempts: 13,
        }
    }
}

impl RetrySchedule {
    /// Delay before attempt n+1 after n failed attempts, or None when the attempts are
    /// exhausted (n >= `max_attempts`). With `e = min(base * 2^(n-1), max)` the delay is
    /// drawn uniformly from `[e/2, e]` ("equal jitter": spread out, never near zero), then
    /// raised to at least `retry_after` (what the receiver asked for, capped at
    /// [`MAX_RETRY_AFTER`]). For n = 0 (nothing failed yet) the exponential part is zero.
    pub fn next_delay(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        rng: &mut impl rand::Rng,
    ) -> Option<Duration> {
        if failed_attempts >= self.max_attempts {
            return None;
        }
        let exponential = match failed_attempts {
            0 => Duration::ZERO,
            n => {
                let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
                self.base
                    .checked_mul(factor)
                    .unwrap_or(self.max)
                    .min(self.max)
            }
        };
        let half = exponential / 2;
        let spread_ms = u64::try_from((exponential - half).as_millis()).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(rng.random_range(0..=spread_ms));
        let delay = (half + jitter).min(exponential);
        let floor = retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
        Some(delay.max(floor))
    }
}

/// One delivery attempt, as recorded on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt. [`deliver_once`] always says 1; the caller renumbers.
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why the attempt failed (None on success).
    pub error: Option<String>,
    pub duration_ms: u64,
    /// What the receiver asked for with `Retry-After` (429 and 503 only), in JSON as
    /// `retry_after_ms`.
    #[serde(
        rename = "retry_after_ms",
        with = "opt_duration_ms",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<Duration>,
}

impl DeliveryAttempt {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// POST `body` (JSON) to `url` with `content-type`, `webhook-id`, `webhook-timestamp` and
/// `webhook-signature`. A 2xx is success; `Retry-After` is read on 429 and 503. Network
/// failures and guard refusals are recorded in `error`, never returned.
///
/// Use a client from [`crate::net::guarded_client`]: it refuses forbidden destinations,
/// literal IPs included, before connecting.
pub async fn deliver_once(
    client: &reqwest::Client,
    url: &str,
    secret: &WebhookSecret,
    msg_id: &str,
    body: &[u8],
) -> DeliveryAttempt {
    let at = OffsetDateTime::now_utc();
    let timestamp = at.unix_timestamp();
    let started = Instant::now();
    let result = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", sign(secret, msg_id, timestamp, body))
        .body(body.to_vec())
        .send()
        .await;
    let mut attempt = DeliveryAttempt {
        attempt: 1,
        at,
        status: None,
        error: None,
        duration_ms: 0,
        retry_after: None,
    };
    match result {
        Ok(response) => {
            let status = response.status();
            attempt.status = Some(status.as_u16());
            if !status.is_success() {
                attempt.error = Some(format!("the receiver answered HTTP {status}"));
            }
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || status == reqwest::StatusCode::SERVICE_UNAVAILABLE
            {
                attempt.retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, OffsetDateTime::now_utc()));
            }
            // The body is not needed: dropping the response discards it.
        }
        Err(err) => {
            attempt.error = Some(match super::error::find_in_chain(&err) {
                Some(own) => own.to_string(),
                None if err.is_timeout() => "timed out".to_owned(),
                None => describe_reqwest(err),
            });
        }
    }
    attempt.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    attempt
}

/// A `Retry-After` value: delay seconds ("120") or an HTTP date
/// ("Wed, 21 Oct 2015 07:28:00 GMT"; a past date means no wait). None when unparseable.
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let when = time::PrimitiveDateTime::parse(value, format)
        .ok()?
        .assume_utc();
    let wait = when - now;
    Some(if wait.is_positive() {
        Duration::try_from(wait).unwrap_or(MAX_RETRY_AFTER)
    } else {
        Duration::ZERO
    })
}

mod opt_duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = time::macros::datetime!(2015-10-21 07:27:00 UTC);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn mac_input_is_id_dot_timestamp_dot_body() {
        let secret = WebhookSecret(b"0123456789abcdef".to_vec());
        let mut whole = HmacSha256::new_from_slice(b"0123456789abcdef").unwrap();
        whole.update(b"msg_1.42.{}");
        let expected = format!("v1,{}", BASE64.encode(whole.finalize().into_bytes()));
        assert_eq!(sign(&secret, "msg_1", 42, b"{}"), expected);
    }
}
