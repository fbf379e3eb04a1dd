//! `petavatar submit PHOTO --api URL --key KEY [--wait [--timeout 10m]]`: a client of the
//! public API. It speaks only the documented routes, so it works against `petavatar serve`
//! and a deployed API alike.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

pub struct SubmitOptions {
    pub photo: PathBuf,
    pub api: String,
    pub key: String,
    pub wait: bool,
    pub out: Option<PathBuf>,
    /// How long `wait` waits for the job to end.
    pub timeout: Duration,
}

/// How often `--wait` polls the status.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

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
    #[error(
        "job {job_id} did not finish within {} (last seen: {last_seen}); it goes on: \
         GET /status/{job_id} tells when it is done",
        show_duration(*timeout)
    )]
    Timeout {
        job_id: String,
        timeout: Duration,
        last_seen: String,
    },
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
    wait_for(&client, &job_id, options.timeout).await?;
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

/// Polls the status until the job completes (or fails), printing each new stage; gives up
/// after `timeout`, even in the middle of a request.
async fn wait_for(client: &Client, job_id: &str, timeout: Duration) -> Result<(), SubmitError> {
    let deadline = Instant::now() + timeout;
    let mut last_seen = "no status yet".to_owned();
    let timed_out = |last_seen: String| SubmitError::Timeout {
        job_id: job_id.to_owned(),
        timeout,
        last_seen,
    };
    let mut last_stage = String::new();
    loop {
        let request = client.call(
            "GET /status",
            client.http.get(client.url(&format!("/status/{job_id}"))),
        );
        let Ok(status) = tokio::time::timeout_at(deadline, request).await else {
            return Err(timed_out(last_seen));
        };
        let status = status?;
        let stage = status["stage"].as_str().unwrap_or_default().to_owned();
        let progress = status["progress"].as_u64().unwrap_or(0);
        if stage != last_stage {
            eprintln!("  {progress:>3}%  {stage}");
            last_stage = stage.clone();
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
            other => {
                last_seen = format!(
                    "{}, stage {stage}, {progress}%",
                    other.unwrap_or("no status")
                );
                if Instant::now() + POLL_INTERVAL >= deadline {
                    tokio::time::sleep_until(deadline).await;
                    return Err(timed_out(last_seen));
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a duration: give a number with s, m or h (90s, 10m, 1h), or seconds")]
pub struct BadTimeout(String);

/// `--timeout`: `90s`, `10m`, `1h`, or a bare number of seconds; more than zero.
pub fn parse_timeout(text: &str) -> Result<Duration, BadTimeout> {
    let bad = || BadTimeout(text.to_owned());
    let trimmed = text.trim();
    let (number, unit) = match trimmed.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => trimmed.split_at(at),
        None => (trimmed, "s"),
    };
    let count: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "s" => count,
        "m" => count.checked_mul(60).ok_or_else(bad)?,
        "h" => count.checked_mul(3600).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if seconds == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(seconds))
}

/// A timeout as it was most likely given: `90s`, `10m`, `1h`.
fn show_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_written() {
        for (text, seconds) in [
            ("90s", 90),
            ("10m", 600),
            ("1h", 3600),
            ("45", 45),
            (" 2m ", 120),
        ] {
            assert_eq!(
                parse_timeout(text).unwrap(),
                Duration::from_secs(seconds),
                "{text}"
            );
        }
        for text in [
            "",
            "0",
            "0s",
            "10 minutes",
            "-5s",
            "1.5m",
            "m",
            "10d",
            "99999999999999999999h",
        ] {
            assert!(parse_timeout(text).is_err(), "{text}");
        }
        for text in ["90s", "10m", "1h", "61s"] {
            assert_eq!(show_duration(parse_timeout(text).unwrap()), text);
        }
    }
}
