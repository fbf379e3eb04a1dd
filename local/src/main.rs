//! `petavatar`: PetAvatar on one machine, no AWS account needed.
//!
//! - `petavatar run PHOTO` — the whole pipeline on one photo;
//! - `petavatar contact-sheet PHOTO... -o sheet.png` — photos beside their avatars, one PNG;
//! - `petavatar serve` — the API, the web page, the queue, the worker and the engine;
//! - `petavatar executions list|show` — execution histories (GetExecutionHistory shape);
//! - `petavatar submit PHOTO --api URL --key KEY` — a client of the public API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use petavatar::{contact_sheet, executions, run, serve, submit};
use telemetry::logging;

#[derive(Parser)]
#[command(
    name = "petavatar",
    version,
    about = "Turn a photo of a pet into a professional avatar and a career identity"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline on one photo and write the avatar and result.json.
    Run {
        /// A JPEG, PNG or HEIC photo of a pet.
        photo: PathBuf,
        /// Where to write avatar.png, its variants, result.json and history.json.
        #[arg(long, default_value = "petavatar-out")]
        out: PathBuf,
        /// What the pet is, if you know (`cat`, `dog`, …).
        #[arg(long)]
        species: Option<String>,
    },
    /// Run the pipeline on several photos and render each photo beside its avatar in one PNG.
    ContactSheet {
        /// JPEG, PNG or HEIC photos (a refused photo gets a crossed-out tile).
        #[arg(required = true)]
        photos: Vec<PathBuf>,
        /// The sheet to write.
        #[arg(short, long, default_value = "contact-sheet.png")]
        out: PathBuf,
        /// Side of each photo and avatar tile, in pixels.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(32..=1024))]
        tile: u32,
        /// Photo + avatar pairs per row.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
        columns: u32,
    },
    /// Serve the API, the web page, the worker and the engine on 127.0.0.1.
    Serve {
        #[arg(long, default_value_t = 8080, env = "PETAVATAR_PORT")]
        port: u16,
        /// The data folder: SQLite databases and stored objects.
        #[arg(long, default_value = ".petavatar", env = "PETAVATAR_DATA")]
        data: PathBuf,
        /// Pause this long before each stage, to watch a job go through the stages.
        #[arg(long, default_value_t = 0, env = "PETAVATAR_STAGE_DELAY_MS")]
        stage_delay_ms: u64,
        /// Jobs processed at once (default: one per core, plus one); more wait, `queued`.
        #[arg(long, env = "PETAVATAR_MAX_RUNNING_JOBS", value_parser = clap::value_parser!(u16).range(1..))]
        max_running_jobs: Option<u16>,
        /// A host name the server answers for besides 127.0.0.1/localhost (e.g. behind a
        /// proxy); repeat for several. Requests naming any other Host are refused (421).
        #[arg(
            long = "allowed-host",
            env = "PETAVATAR_ALLOWED_HOSTS",
            value_delimiter = ','
        )]
        allowed_hosts: Vec<String>,
        #[command(flatten)]
        limits: ServeLimitArgs,
    },
    /// Inspect execution histories in a data folder.
    Executions {
        #[command(subcommand)]
        command: ExecutionsCommand,
        #[command(flatten)]
        data: DataFolder,
    },
    /// The dead-letter queue of a data folder: job messages whose execution never started.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLettersCommand,
        #[command(flatten)]
        data: DataFolder,
    },
    /// Manage the API keys of a data folder.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        #[command(flatten)]
        data: DataFolder,
    },
    /// Submit a photo to a PetAvatar API (this server or a deployed one).
    Submit {
        photo: PathBuf,
        /// The API's base URL, e.g. http://127.0.0.1:8080
        #[arg(long, env = "PETAVATAR_API")]
        api: String,
        #[arg(long, env = "PETAVATAR_API_KEY", hide_env_values = true)]
        key: String,
        /// Wait for the job to finish and print its identity.
        #[arg(long)]
        wait: bool,
        /// With --wait: also download the avatar into this folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// With --wait: give up waiting after this long (e.g. 90s, 10m, 1h; a bare number is
        /// seconds). The job itself goes on.
        #[arg(long, default_value = "10m", value_parser = submit::parse_timeout, requires = "wait")]
        timeout: std::time::Duration,
    },
}

/// Timeouts (seconds) and caps of `serve`'s HTTP server; the defaults suit a local server.
#[derive(Args)]
struct ServeLimitArgs {
    /// Time for a request's headers, counted from when the connection waits for it (so it
    /// also closes silent and idle kept-alive connections).
    #[arg(long, default_value_t = 10, env = "PETAVATAR_HEADER_TIMEOUT_S", value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_s: u64,
    /// Longest pause allowed inside a request body.
    #[arg(long, default_value_t = 15, env = "PETAVATAR_BODY_IDLE_TIMEOUT_S", value_parser = clap::value_parser!(u64).range(1..))]
    body_idle_timeout_s: u64,
    /// A whole request (all but uploads).
    #[arg(long, default_value_t = 30, env = "PETAVATAR_REQUEST_TIMEOUT_S", value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout_s: u64,
    /// A whole upload.
    #[arg(long, default_value_t = 300, env = "PETAVATAR_UPLOAD_TIMEOUT_S", value_parser = clap::value_parser!(u64).range(1..))]
    upload_timeout_s: u64,
    /// Connections open at once; more are answered 503.
    #[arg(long, default_value_t = 1024, env = "PETAVATAR_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Uploads in progress at once per API key; more are answered 429.
    #[arg(long, default_value_t = petavatar::limits::DEFAULT_UPLOADS_PER_KEY as u64, env = "PETAVATAR_MAX_UPLOADS_PER_KEY", value_parser = clap::value_parser!(u64).range(1..))]
    max_uploads_per_key: u64,
    /// Presigned forms open (not used, not expired) per API key; more are answered 429.
    #[arg(long, default_value_t = petavatar::limits::DEFAULT_OPEN_FORMS_PER_KEY as u64, env = "PETAVATAR_MAX_OPEN_FORMS_PER_KEY", value_parser = clap::value_parser!(u64).range(1..))]
    max_open_forms_per_key: u64,
    /// How long a database write waits for a lock held by another process (milliseconds);
    /// past it the stage fails `PetAvatar.Transient` and the state machine retries it.
    #[arg(long, default_value_t = 10_000, env = "PETAVATAR_DB_BUSY_TIMEOUT_MS")]
    db_busy_timeout_ms: u64,
    /// How often refused API keys and timed-out connections are logged, as one summary line.
    #[arg(long, default_value_t = 10_000, env = "PETAVATAR_SUMMARY_INTERVAL_MS", value_parser = clap::value_parser!(u64).range(1..))]
    summary_interval_ms: u64,
}

impl ServeLimitArgs {
    fn limits(&self) -> petavatar::http_server::ServerLimits {
        use std::time::Duration;
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        petavatar::http_server::ServerLimits {
            header_read_timeout: Duration::from_secs(self.header_timeout_s),
            body_idle_timeout: Duration::from_secs(self.body_idle_timeout_s),
            request_timeout: Duration::from_secs(self.request_timeout_s),
            upload_timeout: Duration::from_secs(self.upload_timeout_s),
            max_connections: count(self.max_connections),
            max_uploads_per_key: count(self.max_uploads_per_key),
            max_open_forms_per_key: count(self.max_open_forms_per_key),
            db_busy_timeout: Duration::from_millis(self.db_busy_timeout_ms),
            summary_window: Duration::from_millis(self.summary_interval_ms),
        }
    }
}

/// `--data`, for the commands that read a server's data folder (before or after their own
/// subcommand).
#[derive(Args)]
struct DataFolder {
    /// The data folder of `petavatar serve`.
    #[arg(
        long = "data",
        value_name = "DATA",
        default_value = ".petavatar",
        env = "PETAVATAR_DATA",
        global = true
    )]
    path: PathBuf,
}

/// The running server's operator API.
#[derive(Args)]
struct OperatorApiArgs {
    /// The server's base URL.
    #[arg(long, env = "PETAVATAR_API", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// An operator key (`petavatar keys create --operator`), not a client API key.
    #[arg(long, env = "PETAVATAR_OPERATOR_KEY", hide_env_values = true)]
    operator_key: String,
}

impl OperatorApiArgs {
    fn into_api(self) -> executions::OperatorApi {
        executions::OperatorApi {
            base: self.api,
            key: self.operator_key,
        }
    }
}

fn parse_status(text: &str) -> Result<statemachine::ExecutionStatus, String> {
    petavatar::console::parse_status(text).map_err(|e| e.to_string())
}

/// An RFC 3339 time, or a duration before now.
fn parse_when(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = petavatar::console::parse_time(text) {
        return Ok(t);
    }
    let ago = submit::parse_timeout(text).map_err(|_| {
        format!("{text:?} is neither an RFC 3339 time nor a duration (90s, 10m, 2h)")
    })?;
    let ago = chrono::TimeDelta::from_std(ago).map_err(|e| e.to_string())?;
    Ok(chrono::Utc::now() - ago)
}

#[derive(Subcommand)]
enum DeadLettersCommand {
    /// Each dead letter: its message id, job, receive count and last error.
    List,
    /// Move dead letters back to the queue (each job still gets one execution).
    Replay {
        /// The message to replay.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        message_id: Option<String>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
    /// Delete dead letters.
    Purge {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        message_id: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key and print it (it is shown once; only its hash is stored).
    Create {
        /// An operator key (the execution pages and the operator API) instead of a client's.
        #[arg(long)]
        operator: bool,
    },
}

#[derive(Subcommand)]
enum ExecutionsCommand {
    /// Executions, newest first, filtered and paged as ListExecutions.
    List {
        /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
        #[arg(long, value_parser = parse_status)]
        status: Option<statemachine::ExecutionStatus>,
        /// Started at or after this time: RFC 3339, or a duration ago (90s, 10m, 2h).
        #[arg(long, value_parser = parse_when)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Started before this time: RFC 3339, or a duration ago.
        #[arg(long, value_parser = parse_when)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Only executions whose name (the job id) starts with this.
        #[arg(long)]
        prefix: Option<String>,
        /// At most this many (1 to 1000; default 100).
        #[arg(long)]
        max_results: Option<usize>,
        /// The token the previous page printed.
        #[arg(long)]
        next_token: Option<String>,
    },
    /// Redrive a failed job's execution from the state that failed (the job goes back to
    /// `processing`, then to its new outcome). Asks the running server.
    Redrive {
        job_id: String,
        #[command(flatten)]
        api: OperatorApiArgs,
        /// Follow the execution until it ends (at most this long: 90s, 10m, …).
        #[arg(long, value_parser = submit::parse_timeout)]
        wait: Option<std::time::Duration>,
    },
    /// Stop a job's running execution; the job ends `failed` with this error and cause.
    Stop {
        job_id: String,
        #[command(flatten)]
        api: OperatorApiArgs,
        /// The error name the job gets (default PetAvatar.Aborted).
        #[arg(long)]
        error: Option<String>,
        /// The message the job gets.
        #[arg(long)]
        cause: Option<String>,
    },
    /// One execution (its name is the job id, or give the full ARN) and its events.
    Show {
        id: String,
        /// Print the history as GetExecutionHistory JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn dead_letters(
    command: DeadLettersCommand,
    data: &std::path::Path,
) -> Result<(), petavatar::dead_letters::DeadLetterError> {
    let letters = petavatar::dead_letters::DeadLetters::open(data)?;
    match command {
        DeadLettersCommand::List => {
            petavatar::dead_letters::print_list(&letters.queue.dead_letter_messages()?);
        }
        DeadLettersCommand::Replay { message_id, .. } => {
            let n = letters.replay(message_id.as_deref()).await?;
            println!("replayed {n} message(s)");
        }
        DeadLettersCommand::Purge { message_id, .. } => {
            let n = letters.queue.purge_dead_letters(message_id.as_deref())?;
            println!("purged {n} message(s)");
        }
    }
    Ok(())
}

async fn dispatch(command: Command) -> Result<(), String> {
    match command {
        Command::Run {
            photo,
            out,
            species,
        } => {
            logging::init_cli();
            let job = run::run(run::RunOptions {
                photo,
                out: out.clone(),
                species,
            })
            .await
            .map_err(|e| e.to_string())?;
            print!("{}", run::render_identity(&job));
            println!("\nWrote {}/avatar.png and result.json", out.display());
            Ok(())
        }
        Command::ContactSheet {
            photos,
            out,
            tile,
            columns,
        } => {
            logging::init_cli();
            let entries = contact_sheet::contact_sheet(&contact_sheet::SheetOptions {
                photos,
                out: out.clone(),
                tile,
                columns,
            })
            .await
            .map_err(|e| e.to_string())?;
            for (i, entry) in entries.iter().enumerate() {
                match &entry.summary {
                    Ok(line) => println!("{:>2}. {}: {line}", i + 1, entry.photo.display()),
                    Err(why) => println!("{:>2}. {}: refused: {why}", i + 1, entry.photo.display()),
                }
            }
            println!("Wrote {}", out.display());
            Ok(())
        }
        Command::Serve {
            port,
            data,
            stage_delay_ms,
            max_running_jobs,
            allowed_hosts,
            limits,
        } => {
            logging::init_json();
            let stage_delay = std::time::Duration::from_millis(stage_delay_ms);
            serve::serve(serve::ServeOptions {
                port,
                data,
                stage_delay,
                max_running_jobs: max_running_jobs
                    .map_or_else(petavatar::worker::default_slot_count, usize::from),
                limits: limits.limits(),
                allowed_hosts,
            })
            .await
            .map_err(|e| e.to_string())
        }
        Command::Executions { command, data } => {
            logging::init_cli();
            match command {
                ExecutionsCommand::List {
                    status,
                    since,
                    until,
                    prefix,
                    max_results,
                    next_token,
                } => executions::list(
                    &data.path,
                    &petavatar::console::ExecutionFilter {
                        status,
                        started_after: since,
                        started_before: until,
                        name_prefix: prefix,
                        max_results,
                        next_token,
                    },
                ),
                ExecutionsCommand::Show { id, json } => executions::show(&data.path, &id, json),
                ExecutionsCommand::Redrive { job_id, api, wait } => {
                    executions::act(&api.into_api(), &job_id, executions::Action::Redrive, wait)
                        .await
                }
                ExecutionsCommand::Stop {
                    job_id,
                    api,
                    error,
                    cause,
                } => {
                    executions::act(
                        &api.into_api(),
                        &job_id,
                        executions::Action::Stop { error, cause },
                        None,
                    )
                    .await
                }
            }
            .map_err(|e| e.to_string())
        }
        Command::DeadLetters { command, data } => {
            logging::init_cli();
            dead_letters(command, &data.path)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Keys {
            command: KeysCommand::Create { operator },
            data,
        } => {
            let (kind, what) = if operator {
                (petavatar::store::KeyKind::Operator, "operator key")
            } else {
                (petavatar::store::KeyKind::Client, "API key")
            };
            let (key_id, key) = serve::create_key(&data.path, kind).map_err(|e| e.to_string())?;
            eprintln!("Created {what} {key_id} (shown once, keep it):");
            println!("{key}");
            Ok(())
        }
        Command::Submit {
            photo,
            api,
            key,
            wait,
            out,
            timeout,
        } => {
            logging::init_cli();
            submit::submit(submit::SubmitOptions {
                photo,
                api,
                key,
                wait,
                out,
                timeout,
            })
            .await
            .map_err(|e| e.to_string())
        }
    }
}
