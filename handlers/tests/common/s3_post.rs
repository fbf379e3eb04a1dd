//! What S3 answers to a presigned POST, for the tests (moto checks neither policies nor
//! signatures): the SigV4 signature recomputed from the form's own credential scope with
//! `aws-sigv4`, then S3's documented policy rules, `api::s3_post` (the checker the local
//! endpoint of `petavatar serve` applies to every upload). Kept out of the shipped library:
//! nothing on AWS needs to check a policy.

use std::collections::BTreeMap;

use api::s3_post::{self, Refusal};
use chrono::{DateTime, NaiveDate, Utc};
use handlers::post_policy::ALGORITHM;

/// S3's answer to the form `fields` (without `file`) carrying `file_size` bytes, posted to
/// `bucket` at `now`, for the secret key `secret`: the success status, or S3's refusal.
pub fn check_upload(
    fields: &BTreeMap<String, String>,
    file_size: u64,
    secret: &str,
    bucket: &str,
    now: DateTime<Utc>,
) -> Result<u16, Refusal> {
    check_signature(fields, secret)?;
    let form: Vec<(String, String)> = fields.clone().into_iter().collect();
    s3_post::evaluate(bucket, &form, file_size, now).map(|accepted| accepted.status)
}

fn check_signature(fields: &BTreeMap<String, String>, secret: &str) -> Result<(), Refusal> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if field("x-amz-algorithm") != Some(ALGORITHM) {
        return Err(Refusal::SignatureDoesNotMatch);
    }
    let credential = field("x-amz-credential").ok_or(Refusal::SignatureDoesNotMatch)?;
    let [_, day, region, service, "aws4_request"] = credential.split('/').collect::<Vec<_>>()[..]
    else {
        return Err(Refusal::SignatureDoesNotMatch);
    };
    let day = NaiveDate::parse_from_str(day, "%Y%m%d")
        .map_err(|_| Refusal::SignatureDoesNotMatch)?
        .and_hms_opt(0, 0, 0)
        .ok_or(Refusal::SignatureDoesNotMatch)?
        .and_utc();
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, day.into(), region, service);
    let policy = field("policy").ok_or(Refusal::MissingField("policy"))?;
    let expected = aws_sigv4::sign::v4::calculate_signature(key, policy.as_bytes());
    if field("x-amz-signature") != Some(expected.as_str()) {
        return Err(Refusal::SignatureDoesNotMatch);
    }
    Ok(())
}
