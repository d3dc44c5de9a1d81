//! Multipart uploads driven part by part by the caller, for uploads whose parts arrive in
//! separate requests, possibly on different nodes (tus): the caller keeps the upload id and
//! the parts' ETags (in the job store) between calls. Only object stores with native
//! multipart uploads offer it ([`ObjectStore::multipart`](super::ObjectStore::multipart)).

use std::path::Path;

use super::error::StorageError;

/// Smallest part S3 accepts, except for the last one.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Most parts one multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;

/// Part size for an object of `size` bytes: at least [`MIN_PART_SIZE`], and large enough
/// (whole MiB) that the object fits in [`MAX_PARTS`] parts.
pub fn part_size_for(size: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    MIN_PART_SIZE.max(size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB)
}

/// Errors as in [`super::ObjectStore`]: `NotFound` when the multipart upload is gone
/// (completed or aborted), `Io`/`Backend` transient.
#[async_trait::async_trait]
pub trait Multipart: Send + Sync {
    /// Start a multipart upload that will become `key`; returns its upload id.
    async fn create_multipart(&self, key: &str, content_type: &str)
    -> Result<String, StorageError>;
    /// Upload part `number` (1-based) from the first `len` bytes of the file at `path`,
    /// streamed from disk; returns the part's ETag. Uploading a number again replaces it.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        path: &Path,
        len: u64,
    ) -> Result<String, StorageError>;
    /// Join the parts (ETags of parts 1, 2, … in order) into the object `key`.
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), StorageError>;
    /// Drop the upload and its parts. Idempotent: an upload already gone is `Ok`.
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_cover_the_object_in_at_most_max_parts() {
        assert_eq!(part_size_for(0), MIN_PART_SIZE);
        assert_eq!(part_size_for(2_000_000_000), MIN_PART_SIZE);
        let big = 200 * 1024 * 1024 * 1024u64;
        let p = part_size_for(big);
        assert!(p >= big / MAX_PARTS && big.div_ceil(p) <= MAX_PARTS, "{p}");
        assert_eq!(p % (1024 * 1024), 0);
    }
}
