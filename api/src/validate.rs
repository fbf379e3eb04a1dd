//! Parsing what clients send: job ids and S3 URIs. Strict, so that a key built from a
//! client value can never escape its folder.

use uuid::Uuid;

use crate::error::ApiError;

/// Upload content types the API accepts, with the file extension used in the key.
pub const UPLOAD_CONTENT_TYPES: [(&str, &str); 3] = [
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/heic", "heic"),
];

/// Extensions accepted in an upload key (`jpeg` as an alias of `jpg`).
const UPLOAD_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "heic"];

/// A job id: a UUID in its canonical hyphenated form (36 characters), any case.
pub fn parse_job_id(raw: &str) -> Result<Uuid, ApiError> {
    let malformed = || {
        ApiError::bad_request(
            "InvalidJobId",
            "job_id must be a UUID like 123e4567-e89b-42d3-a456-426614174000",
        )
    };
    if raw.len() != 36 {
        return Err(malformed());
    }
    Uuid::try_parse(raw).map_err(|_| malformed())
}

/// The key of a job's upload: `uploads/{job_id}/original.{ext}`.
pub fn upload_key(job_id: Uuid, extension: &str) -> String {
    format!("uploads/{job_id}/original.{extension}")
}

/// The file extension for an accepted content type.
pub fn extension_for_content_type(content_type: &str) -> Option<&'static str> {
    let wanted = content_type.trim().to_ascii_lowercase();
    UPLOAD_CONTENT_TYPES
        .iter()
        .find(|(ct, _)| *ct == wanted)
        .map(|(_, ext)| *ext)
}

/// An `s3://bucket/key` URI naming a job's upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLocation {
    pub bucket: String,
    pub key: String,
    pub job_id: Uuid,
}

/// Parses `s3://bucket/uploads/{job_id}/original.{jpg|jpeg|png|heic}`.
pub fn parse_s3_uri(uri: &str) -> Result<UploadLocation, ApiError> {
    let rest = uri.strip_prefix("s3://").ok_or_else(|| {
        ApiError::bad_request("InvalidS3Uri", "s3_uri must look like s3://bucket/key")
    })?;
    let (bucket, key) = rest.split_once('/').ok_or_else(|| {
        ApiError::bad_request("InvalidS3Uri", "s3_uri must look like s3://bucket/key")
    })?;
    if !is_bucket_name(bucket) {
        return Err(ApiError::bad_request(
            "InvalidS3Uri",
            "s3_uri names an invalid bucket",
        ));
    }
    let job_id = parse_upload_key(key)?;
    Ok(UploadLocation {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        job_id,
    })
}

/// The job id of an upload key `uploads/{job_id}/original.{ext}`.
pub fn parse_upload_key(key: &str) -> Result<Uuid, ApiError> {
    let bad_key = || {
        ApiError::bad_request(
            "InvalidS3Uri",
            "the key must be uploads/{job_id}/original.{jpg|png|heic}",
        )
    };
    let mut parts = key.split('/');
    let (Some("uploads"), Some(id), Some(file), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_key());
    };
    let job_id = parse_job_id(id).map_err(|_| bad_key())?;
    let extension = file.strip_prefix("original.").ok_or_else(bad_key)?;
    if !UPLOAD_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()) {
        return Err(ApiError::bad_request(
            "UnsupportedFormat",
            "only JPEG, PNG and HEIC uploads are accepted",
        ));
    }
    Ok(job_id)
}

/// S3's bucket naming rules, simplified: 3–63 of `a-z0-9.-`, starting and ending alphanumeric.
fn is_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "123e4567-e89b-42d3-a456-426614174000";

    #[test]
    fn job_ids_must_be_hyphenated_uuids() {
        assert!(parse_job_id(ID).is_ok());
        assert!(parse_job_id(&ID.to_uppercase()).is_ok());
        assert!(parse_job_id("123e4567e89b42d3a456426614174000").is_err());
        assert!(parse_job_id("not-a-uuid").is_err());
        assert!(parse_job_id(&format!("{{{ID}}}")).is_err());
        assert!(parse_job_id("").is_err());
    }

    #[test]
    fn parses_an_upload_uri() {
        let loc = parse_s3_uri(&format!("s3://my-bucket/uploads/{ID}/original.png")).unwrap();
        assert_eq!(loc.bucket, "my-bucket");
        assert_eq!(loc.key, format!("uploads/{ID}/original.png"));
        assert_eq!(loc.job_id.to_string(), ID);
    }

    #[test]
    fn refuses_other_uris() {
        for uri in [
            "http://bucket/uploads/x/original.png".to_owned(),
            "s3://bucket".to_owned(),
            format!("s3://Bucket/uploads/{ID}/original.png"),
            format!("s3://bucket/uploads/{ID}/../original.png"),
            format!("s3://bucket/uploads/{ID}/other.png"),
            format!("s3://bucket/generated/{ID}/original.png"),
            format!("s3://bucket/uploads/{ID}/original.png/x"),
            "s3://bucket/uploads/nope/original.png".to_owned(),
        ] {
            let err = parse_s3_uri(&uri).unwrap_err();
            assert_eq!(err.code, "InvalidS3Uri", "{uri}");
        }
        let err = parse_s3_uri(&format!("s3://bucket/uploads/{ID}/original.gif")).unwrap_err();
        assert_eq!(err.code, "UnsupportedFormat");
    }

    #[test]
    fn content_types_map_to_extensions() {
        assert_eq!(extension_for_content_type("image/jpeg"), Some("jpg"));
        assert_eq!(extension_for_content_type("IMAGE/PNG"), Some("png"));
        assert_eq!(extension_for_content_type("image/heic"), Some("heic"));
        assert_eq!(extension_for_content_type("image/gif"), None);
    }
}
