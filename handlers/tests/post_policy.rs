//! The presigned POST form against what S3 answers (signature and policy rules, as
//! `common/s3_post.rs` applies them): accepted as signed, refused outside its policy. No moto:
//! moto checks neither, so these are the refusals S3 itself would give.

#[path = "common/s3_post.rs"]
mod s3_post;

use std::collections::BTreeMap;

use api::s3_post::Refusal;
use chrono::{DateTime, TimeZone, Utc};
use handlers::post_policy::{SigningCredentials, UploadRules, form_fields};
use s3_post::check_upload;

const BUCKET: &str = "uploads-bucket";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const MAX_BYTES: u64 = 50 * 1024 * 1024;

fn rules() -> UploadRules {
    UploadRules {
        bucket: BUCKET.into(),
        region: "eu-west-1".into(),
        key: "uploads/123e4567-e89b-42d3-a456-426614174000/original.png".into(),
        content_type: "image/png".into(),
        max_bytes: MAX_BYTES,
        expires_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 19, 5).unwrap(),
    }
}

fn credentials(token: Option<&str>) -> SigningCredentials {
    SigningCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SECRET.into(),
        session_token: token.map(str::to_owned),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
}

fn check(fields: &BTreeMap<String, String>, size: u64) -> Result<u16, Refusal> {
    check_upload(fields, size, SECRET, BUCKET, now())
}

#[test]
fn the_form_is_accepted_as_signed() {
    let with_token = form_fields(&rules(), &credentials(Some("TOKEN")), now());
    assert_eq!(with_token["x-amz-security-token"], "TOKEN");
    assert_eq!(check(&with_token, 1234), Ok(204));
    let without = form_fields(&rules(), &credentials(None), now());
    assert!(!without.contains_key("x-amz-security-token"));
    assert_eq!(check(&without, 1), Ok(204));
    assert_eq!(check(&without, MAX_BYTES), Ok(204));
}

#[test]
fn uploads_outside_the_policy_are_refused() {
    let fields = form_fields(&rules(), &credentials(None), now());

    assert!(matches!(
        check(&fields, MAX_BYTES + 1),
        Err(Refusal::EntityTooLarge { .. })
    ));
    assert!(matches!(
        check(&fields, 0),
        Err(Refusal::EntityTooSmall { .. })
    ));

    let mut gif = fields.clone();
    gif.insert("Content-Type".into(), "image/gif".into());
    assert!(matches!(check(&gif, 10), Err(Refusal::ConditionFailed(_))));

    let mut elsewhere = fields.clone();
    elsewhere.insert("key".into(), "uploads/other/original.png".into());
    assert!(matches!(
        check(&elsewhere, 10),
        Err(Refusal::ConditionFailed(_))
    ));

    let mut extra = fields.clone();
    extra.insert("acl".into(), "public-read".into());
    assert_eq!(check(&extra, 10), Err(Refusal::ExtraField("acl".into())));

    let mut forged = fields.clone();
    forged.insert("x-amz-signature".into(), "0".repeat(64));
    assert_eq!(check(&forged, 10), Err(Refusal::SignatureDoesNotMatch));

    // The signature covers the day of the credential scope: another day's key does not match.
    let mut other_day = fields.clone();
    let scope = other_day["x-amz-credential"].replace("/20260102/", "/20260103/");
    other_day.insert("x-amz-credential".into(), scope);
    assert_eq!(check(&other_day, 10), Err(Refusal::SignatureDoesNotMatch));

    assert_eq!(
        check_upload(&fields, 10, "another-secret", BUCKET, now()),
        Err(Refusal::SignatureDoesNotMatch)
    );
    assert_eq!(
        check_upload(
            &fields,
            10,
            SECRET,
            BUCKET,
            now() + chrono::Duration::minutes(16)
        ),
        Err(Refusal::Expired)
    );
    assert!(matches!(
        check_upload(&fields, 10, SECRET, "another-bucket", now()),
        Err(Refusal::ConditionFailed(_))
    ));
}
