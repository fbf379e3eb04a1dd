//! `petavatar submit PHOTO --api URL --key KEY [--wait]`: a client of the public API. It
//! speaks only the documented routes, so it works against `petavatar serve` and a
//! deployed API alike.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

pub struct SubmitOptions {
    pub photo: PathBuf,
    pub api: String,
    pub key: String,
    pub wait: bool,
    pub out: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{what} answered {status}: {body}")]
    Api {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("the job failed: {0}")]
    JobFailed(String),
    #[error("unexpected answer from {0}")]
    Unexpected(&'static str),
}

struct Client {
    http: reqwest::Client,
    api: String,
    key: String,
}

impl Client {
    async fn call(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, SubmitError> {
        let response = request.header("x-api-key", &self.key).send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(SubmitError::Api {
                what,
                status: status.as_u16(),
                body: text,
            });
        }
        serde_json::from_str(&text).map_err(|_| SubmitError::Unexpected(what))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.trim_end_matches('/'))
    }
}

pub async fn submit(options: SubmitOptions) -> Result<(), SubmitError> {
    let photo = tokio::fs::read(&options.photo)
        .await
        .map_err(|e| SubmitError::Read(options.photo.clone(), e))?;
    let content_type = crate::run::photo_format(&photo, &options.photo).content_type();
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?,
        api: options.api.clone(),
        key: options.key.clone(),
    };
    let presigned = client
        .call(
            "GET /presigned-url",
            client
                .http
                .get(client.url("/presigned-url"))
                .query(&[("content_type", content_type)]),
        )
        .await?;
    let job_id = presigned["job_id"]
        .as_str()
        .ok_or(SubmitError::Unexpected("GET /presigned-url"))?
        .to_owned();
    let upload_url = presigned["upload_url"]
        .as_str()
        .ok_or(SubmitError::Unexpected("GET /presigned-url"))?;
    let mut form = Form::new();
    if let Some(fields) = presigned["upload_fields"].as_object() {
        for (name, value) in fields {
            form = form.text(name.clone(), value.as_str().unwrap_or_default().to_owned());
        }
    }
    let file_name = options
        .photo
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("photo")
        .to_owned();
    form = form.part(
        "file",
        Part::bytes(photo)
            .file_name(file_name)
            .mime_str(content_type)?,
    );
    let uploaded = client.http.post(upload_url).multipart(form).send().await?;
    if !uploaded.status().is_success() {
        let status = uploaded.status().as_u16();
        return Err(SubmitError::Api {
            what: "upload",
            status,
            body: uploaded.text().await.unwrap_or_default(),
        });
    }
    let s3_uri = presigned["s3_uri"]
        .as_str()
        .ok_or(SubmitError::Unexpected("GET /presigned-url"))?;
    let accepted = client
        .call(
            "POST /process",
            client
                .http
                .post(client.url("/process"))
                .json(&json!({ "s3_uri": s3_uri })),
        )
        .await?;
    println!(
        "job {job_id} {}",
        accepted["status"].as_str().unwrap_or("queued")
    );
    if !options.wait {
        return Ok(());
    }
    wait_for(&client, &job_id).await?;
    let results = client
        .call(
            "GET /results",
            client.http.get(client.url(&format!("/results/{job_id}"))),
        )
        .await?;
    print_results(&results);
    if let (Some(out), Some(url)) = (&options.out, results["avatar_url"].as_str()) {
        // An error would quote the URL, and its signature with it.
        let bytes = download(&client.http, url)
            .await
            .map_err(reqwest::Error::without_url)?;
        std::fs::create_dir_all(out).map_err(|e| SubmitError::Write(out.clone(), e))?;
        let path = out.join("avatar.png");
        std::fs::write(&path, &bytes).map_err(|e| SubmitError::Write(path.clone(), e))?;
        println!("Avatar written to {}", path.display());
    }
    Ok(())
}

async fn download(http: &reqwest::Client, url: &str) -> Result<bytes::Bytes, reqwest::Error> {
    http.get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await
}

/// Polls the status until the job completes (or fails), printing each new stage.
async fn wait_for(client: &Client, job_id: &str) -> Result<(), SubmitError> {
    let mut last_stage = String::new();
    loop {
        let status = client
            .call(
                "GET /status",
                client.http.get(client.url(&format!("/status/{job_id}"))),
            )
            .await?;
        let stage = status["stage"].as_str().unwrap_or_default().to_owned();
        if stage != last_stage {
            eprintln!(
                "  {:>3}%  {stage}",
                status["progress"].as_u64().unwrap_or(0)
            );
            last_stage = stage;
        }
        match status["status"].as_str() {
            Some("completed") => return Ok(()),
            Some("failed") => {
                let error = &status["error"];
                return Err(SubmitError::JobFailed(format!(
                    "{} ({})",
                    error["message"].as_str().unwrap_or("unknown error"),
                    error["code"].as_str().unwrap_or("unknown")
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

fn print_results(results: &Value) {
    let identity = &results["identity"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    println!();
    println!(
        "{} — {} ({})",
        text(&identity["name"]),
        text(&identity["job_title"]),
        text(&identity["seniority"])
    );
    println!("Similarity: {}/100", identity["similarity"]["score"]);
    if let Some(bio) = identity["bio"].as_array() {
        for paragraph in bio {
            println!("\n{}", text(paragraph));
        }
    }
    if let Some(skills) = identity["skills"].as_array() {
        let skills: Vec<String> = skills.iter().map(text).collect();
        println!("\nSkills: {}", skills.join(", "));
    }
    println!("Avatar: {}", text(&results["avatar_url"]));
}
