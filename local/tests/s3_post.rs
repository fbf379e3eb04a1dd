//! The local presigned POST answers as S3 does. One table of forms goes to the local endpoint
//! and to moto's S3; each row states S3's documented answer (status, error code).
//!
//! moto 5 implements S3's POST Object (the key, `success_action_status`; not the 201 XML) but checks
//! no policy and no signature: it stores whatever it is sent. So rows are compared with moto
//! where moto implements the rule (`moto: Same`), and elsewhere the local answer is S3's
//! documented one while moto's lax answer is asserted too (`moto: Lax(204)`): if moto ever starts
//! checking policies, those rows fail and become plain comparisons.

mod common;

use common::moto::Moto;
use common::{Client, Server};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

const BUCKET: &str = "petavatar-uploads";

#[derive(Debug, Clone, Copy)]
enum MotoAnswer {
    /// moto implements this rule: its answer must equal S3's (and the local one).
    Same,
    /// moto does not check it and answers this status instead.
    Lax(u16),
}

struct Row {
    what: &'static str,
    fields: Vec<(String, String)>,
    file: Vec<u8>,
    status: u16,
    /// S3's `<Code>` for a refusal.
    code: Option<&'static str>,
    moto: MotoAnswer,
}

/// A form: the fields (in order; the file goes last) with a policy of `conditions` signed by
/// the server's secret.
struct Forms {
    signer: petavatar::signing::Signer,
    key: String,
}

impl Forms {
    fn base_conditions(&self) -> Vec<Value> {
        vec![
            json!({"bucket": BUCKET}),
            json!(["eq", "$key", self.key]),
            json!(["eq", "$Content-Type", "image/png"]),
            json!(["content-length-range", 1, 1000]),
            json!({"x-amz-algorithm": petavatar::signing::ALGORITHM}),
        ]
    }

    fn form(
        &self,
        conditions: Vec<Value>,
        expires_in: chrono::TimeDelta,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let policy = api::s3_post::encode_policy(chrono::Utc::now() + expires_in, conditions);
        let signature = self.signer.sign_policy(&policy);
        let mut fields: Vec<(String, String)> = [
            ("key", self.key.as_str()),
            ("Content-Type", "image/png"),
            ("bucket", BUCKET),
            ("x-amz-algorithm", petavatar::signing::ALGORITHM),
            ("policy", policy.as_str()),
            ("x-amz-signature", signature.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (name, value) in extra {
            match fields.iter_mut().find(|(k, _)| k == name) {
                Some(field) => field.1 = value.to_string(),
                None => fields.push((name.to_string(), value.to_string())),
            }
        }
        fields
    }

    fn plain(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        self.form(
            self.base_conditions(),
            chrono::TimeDelta::minutes(15),
            extra,
        )
    }

    fn with(&self, more: Vec<Value>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut conditions = self.base_conditions();
        conditions.extend(more);
        self.form(conditions, chrono::TimeDelta::minutes(15), extra)
    }
}

async fn post(url: &str, fields: &[(String, String)], file: &[u8]) -> (u16, String) {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.clone(), v.clone());
    }
    form = form.part("file", Part::bytes(file.to_vec()).file_name("photo.png"));
    let res = reqwest::Client::new()
        .post(url)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

fn error_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(&body[start..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_presigned_post_answers_as_s3() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, 0);
    let client = Client::new(&server, &server.key());
    let presigned = client.presign("image/png").await;
    let local_url = presigned["upload_url"].as_str().unwrap().to_owned();
    let moto_url = format!("{}/{BUCKET}", moto.url);
    let forms = Forms {
        signer: petavatar::signing::Signer::new(std::fs::read(data.join("signing.key")).unwrap()),
        // Not an upload key of a job: the local S3 event handler then starts nothing, and the
        // rows stay about S3's rules only.
        key: format!("tests/{}/photo.png", uuid::Uuid::new_v4()),
    };
    let photo = vec![7u8; 500];
    let genuine: Vec<(String, String)> = presigned["upload_fields"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let mut flipped = forms.plain(&[]);
    let sig = flipped
        .iter_mut()
        .find(|(k, _)| k == "x-amz-signature")
        .unwrap();
    sig.1 = format!(
        "{}{}",
        if sig.1.starts_with('0') { '1' } else { '0' },
        &sig.1[1..]
    );

    let rows = vec![
        Row {
            what: "the form GET /presigned-url hands out",
            fields: genuine,
            file: common::chelsea(),
            status: 204,
            code: None,
            moto: MotoAnswer::Same,
        },
        Row {
            what: "a form within its policy",
            fields: forms.plain(&[]),
            file: photo.clone(),
            status: 204,
            code: None,
            moto: MotoAnswer::Same,
        },
        Row {
            what: "an x-ignore- field needs no condition",
            fields: forms.plain(&[("x-ignore-note", "hi")]),
            file: photo.clone(),
            status: 204,
            code: None,
            moto: MotoAnswer::Same,
        },
        Row {
            what: "success_action_status 201 (covered)",
            fields: forms.with(
                vec![json!({"success_action_status": "201"})],
                &[("success_action_status", "201")],
            ),
            file: photo.clone(),
            status: 201,
            code: None,
            moto: MotoAnswer::Same,
        },
        Row {
            what: "success_action_status 200 (covered)",
            fields: forms.with(
                vec![json!(["starts-with", "$success_action_status", ""])],
                &[("success_action_status", "200")],
            ),
            file: photo.clone(),
            status: 200,
            code: None,
            moto: MotoAnswer::Same,
        },
        Row {
            what: "a starts-with condition that holds",
            fields: forms.with(
                vec![json!(["starts-with", "$x-amz-meta-tag", "pet-"])],
                &[("x-amz-meta-tag", "pet-cat")],
            ),
            file: photo.clone(),
            status: 204,
            code: None,
            moto: MotoAnswer::Same,
        },
        Row {
            what: "a field no condition names",
            fields: forms.plain(&[("acl", "public-read")]),
            file: photo.clone(),
            status: 403,
            code: Some("AccessDenied"),
            moto: MotoAnswer::Lax(204),
        },
        Row {
            what: "success_action_status not in the policy",
            fields: forms.plain(&[("success_action_status", "201")]),
            file: photo.clone(),
            status: 403,
            code: Some("AccessDenied"),
            moto: MotoAnswer::Lax(201),
        },
        Row {
            what: "a starts-with condition that fails",
            fields: forms.with(
                vec![json!(["starts-with", "$x-amz-meta-tag", "pet-"])],
                &[("x-amz-meta-tag", "car")],
            ),
            file: photo.clone(),
            status: 403,
            code: Some("AccessDenied"),
            moto: MotoAnswer::Lax(204),
        },
        Row {
            what: "another key than the policy's",
            fields: forms.plain(&[("key", "tests/elsewhere.png")]),
            file: photo.clone(),
            status: 403,
            code: Some("AccessDenied"),
            moto: MotoAnswer::Lax(204),
        },
        Row {
            what: "another Content-Type",
            fields: forms.plain(&[("Content-Type", "text/html")]),
            file: photo.clone(),
            status: 403,
            code: Some("AccessDenied"),
            moto: MotoAnswer::Lax(204),
        },
        Row {
            what: "a file over content-length-range",
            fields: forms.plain(&[]),
            file: vec![7u8; 1001],
            status: 400,
            code: Some("EntityTooLarge"),
            moto: MotoAnswer::Lax(204),
        },
        Row {
            what: "an empty file",
            fields: forms.plain(&[]),
            file: Vec::new(),
            status: 400,
            code: Some("EntityTooSmall"),
            moto: MotoAnswer::Lax(204),
        },
        Row {
            what: "an expired policy",
            fields: forms.form(forms.base_conditions(), chrono::TimeDelta::seconds(-1), &[]),
            file: photo.clone(),
            status: 403,
            code: Some("AccessDenied"),
            moto: MotoAnswer::Lax(204),
        },
        Row {
            what: "a wrong signature",
            fields: flipped,
            file: photo.clone(),
            status: 403,
            code: Some("SignatureDoesNotMatch"),
            moto: MotoAnswer::Lax(204),
        },
    ];

    let mut failures = Vec::new();
    for row in rows {
        let (local_status, local_body) = post(&local_url, &row.fields, &row.file).await;
        let (moto_status, moto_body) = post(&moto_url, &row.fields, &row.file).await;
        let local_ok = local_status == row.status && error_code(&local_body) == row.code;
        let moto_ok = match row.moto {
            MotoAnswer::Same => moto_status == row.status && error_code(&moto_body) == row.code,
            MotoAnswer::Lax(status) => moto_status == status,
        };
        // A 201 carries S3's PostResponse document naming the key (moto 5 sends an empty body).
        let body_ok = row.status != 201
            || (local_body.contains("<PostResponse>")
                && local_body.contains(&format!("<Key>{}</Key>", forms.key)));
        println!(
            "{:<45} S3 {} {:<22} local {} {:<22} moto {}",
            row.what,
            row.status,
            row.code.unwrap_or("-"),
            local_status,
            error_code(&local_body).unwrap_or("-"),
            moto_status
        );
        if !(local_ok && moto_ok && body_ok) {
            failures.push(format!(
                "{}: local {local_status} {local_body:?}, moto {moto_status} {moto_body:?}",
                row.what
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
