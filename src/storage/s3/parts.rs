//! [`Multipart`] for [`S3Store`]: the S3 multipart calls, one request each.

use std::path::Path;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::{S3Store, file_part, map_err};
use crate::storage::StorageError;
use crate::storage::multipart::Multipart;

#[async_trait::async_trait]
impl Multipart for S3Store {
    async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, StorageError> {
        let full = self.full_key(key)?;
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| map_err("start multipart upload of", key, e))?;
        out.upload_id
            .ok_or_else(|| StorageError::Backend(format!("no upload id for {key:?}")))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        path: &Path,
        len: u64,
    ) -> Result<String, StorageError> {
        let full = self.full_key(key)?;
        let body = file_part(key, path, 0, len).await?;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&full)
            .upload_id(upload_id)
            .part_number(number as i32)
            .content_length(len as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| map_err("upload part of", key, e))?;
        out.e_tag
            .ok_or_else(|| StorageError::Backend(format!("no ETag for a part of {key:?}")))
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), StorageError> {
        let full = self.full_key(key)?;
        // Only number and ETag: a part checksum in CompletedPart makes Garage refuse it.
        let parts = etags
            .iter()
            .enumerate()
            .map(|(i, etag)| {
                CompletedPart::builder()
                    .part_number(i as i32 + 1)
                    .e_tag(etag)
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_err("complete multipart upload of", key, e))?;
        Ok(())
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        let full = self.full_key(key)?;
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| map_err("abort multipart upload of", key, e))
        {
            Ok(_) | Err(StorageError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
